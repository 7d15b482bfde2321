dnl smg-flags.m4 - probe compiler and linker flags.
dnl SPDX-License-Identifier: MIT
dnl SMG_CHECK_CFLAG(FLAG, ACTION-IF-OK)
AC_DEFUN([SMG_CHECK_CFLAG], [
  AS_VAR_PUSHDEF([smg_var], [smg_cv_cflag_$1])
  AC_CACHE_CHECK([whether $CC accepts $1], [smg_var], [
    smg_save_CFLAGS=$CFLAGS
    CFLAGS="$CFLAGS -Werror $1"
    AC_COMPILE_IFELSE([AC_LANG_PROGRAM([], [])],
      [AS_VAR_SET([smg_var], [yes])], [AS_VAR_SET([smg_var], [no])])
    CFLAGS=$smg_save_CFLAGS])
  AS_VAR_IF([smg_var], [yes], [$2])
  AS_VAR_POPDEF([smg_var])])
dnl SMG_CHECK_LDFLAG(FLAG, ACTION-IF-OK)
AC_DEFUN([SMG_CHECK_LDFLAG], [
  AS_VAR_PUSHDEF([smg_var], [smg_cv_ldflag_$1])
  AC_CACHE_CHECK([whether the linker accepts $1], [smg_var], [
    smg_save_LDFLAGS=$LDFLAGS
    LDFLAGS="$LDFLAGS $1"
    AC_LINK_IFELSE([AC_LANG_PROGRAM([], [])],
      [AS_VAR_SET([smg_var], [yes])], [AS_VAR_SET([smg_var], [no])])
    LDFLAGS=$smg_save_LDFLAGS])
  AS_VAR_IF([smg_var], [yes], [$2])
  AS_VAR_POPDEF([smg_var])])
