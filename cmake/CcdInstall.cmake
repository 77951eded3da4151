# Install rules (cmake --install; scripts/build-deb.sh packages the same tree).
#   sbin/ccdialerd, bin/ccdialer-eccp, bin/ccdialer-db
#   <sysconfdir>/ccdialer/ccdialer.conf   the commented sample, only when absent (never
#                                         overwritten on upgrade), mode 0640
#   <sysconfdir>/logrotate.d/ccdialer
#   lib/systemd/system/ccdialerd.service, lib/sysusers.d/ccdialer.conf
#   share/man/man{1,5,8}, share/doc/ccdialer (sample configuration, demo seed, and
#   asterisk/: the dialplan a site adds to Asterisk, conf/asterisk/*.conf)
# With CMAKE_INSTALL_PREFIX=/usr, GNUInstallDirs puts the configuration in /etc.
include(GNUInstallDirs)

set(CCD_VERSION ${PROJECT_VERSION})
set(_pk ${CMAKE_SOURCE_DIR}/packaging)
set(_gen ${CMAKE_BINARY_DIR}/packaging)

foreach(t ccdialerd ccdialer-eccp ccdialer-db)
  if(NOT TARGET ${t})
    message(STATUS "install: ${t} is not built (CCD_MODULES); it is left out of the install")
  endif()
endforeach()
if(TARGET ccdialerd)
  install(TARGETS ccdialerd RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
endif()
foreach(t ccdialer-eccp ccdialer-db)
  if(TARGET ${t})
    install(TARGETS ${t} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  endif()
endforeach()

install(FILES ${_pk}/ccdialer.sysusers DESTINATION lib/sysusers.d RENAME ccdialer.conf)

foreach(page ccdialerd.8 ccdialer.conf.5 ccdialer-eccp.1 ccdialer-db.1)
  string(REGEX REPLACE ".*\\.([0-9])$" "\\1" sect ${page})
  configure_file(${_pk}/man/${page} ${_gen}/man/${page} @ONLY)
  install(FILES ${_gen}/man/${page} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${sect})
endforeach()

install(FILES ${CMAKE_SOURCE_DIR}/conf/ccdialer.conf DESTINATION ${CMAKE_INSTALL_DOCDIR}
        RENAME ccdialer.conf.sample)
# The Asterisk dialplan a site adds: agents (docs/agent.md) and the FastAGI scripts
# (docs/agi.md).
install(FILES ${CMAKE_SOURCE_DIR}/conf/asterisk/extensions_ccdialer.conf
              ${CMAKE_SOURCE_DIR}/conf/asterisk/extensions_ccdialer_agi.conf
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/asterisk)
install(FILES ${CMAKE_SOURCE_DIR}/db/seed/demo.sql DESTINATION ${CMAKE_INSTALL_DOCDIR})

# Files that name install paths or live under /etc are made at install time, so they
# follow `cmake --install --prefix P` and DESTDIR (cmake/ccd_install_etc.cmake): the
# systemd unit, the logrotate file and the configuration (installed only when absent).
install(CODE "set(CCD_SOURCE_DIR \"${CMAKE_SOURCE_DIR}\")
set(CCD_BINARY_DIR \"${CMAKE_BINARY_DIR}\")
include(\"${CMAKE_SOURCE_DIR}/cmake/ccd_install_etc.cmake\")")
