# Runs at install time (see CcdInstall.cmake): CMAKE_INSTALL_PREFIX is the prefix being
# installed to, DESTDIR (environment) the staging root of a package build, which
# file(INSTALL) adds to absolute destinations by itself.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(CCD_SYSCONFDIR "/etc")
else()
  set(CCD_SYSCONFDIR "${CMAKE_INSTALL_PREFIX}/etc")
endif()
set(CCD_SBINDIR "${CMAKE_INSTALL_PREFIX}/sbin")
set(_root "$ENV{DESTDIR}")
set(_tmp "${CCD_BINARY_DIR}/packaging/install-gen")

configure_file("${CCD_SOURCE_DIR}/packaging/ccdialerd.service.in" "${_tmp}/ccdialerd.service" @ONLY)
file(INSTALL "${_tmp}/ccdialerd.service" DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")

configure_file("${CCD_SOURCE_DIR}/packaging/ccdialer.logrotate.in" "${_tmp}/ccdialer" @ONLY)
file(INSTALL "${_tmp}/ccdialer" DESTINATION "${CCD_SYSCONFDIR}/logrotate.d")

# The configuration belongs to the admin once installed: never overwritten.  It holds
# secrets, so it is not world-readable (the package gives it to group ccdialer).
set(_conf "${_root}${CCD_SYSCONFDIR}/ccdialer/ccdialer.conf")
if(EXISTS "${_conf}")
  message(STATUS "Keeping existing: ${_conf}")
else()
  file(INSTALL "${CCD_SOURCE_DIR}/conf/ccdialer.conf" DESTINATION "${CCD_SYSCONFDIR}/ccdialer"
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)
endif()
