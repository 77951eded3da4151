# Warnings are errors everywhere in our own code.
add_library(ccd_warnings INTERFACE)
target_compile_options(ccd_warnings INTERFACE
  -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wvla -Wno-format-nonliteral)
target_compile_definitions(ccd_warnings INTERFACE _GNU_SOURCE)
target_include_directories(ccd_warnings INTERFACE ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR}/generated)
