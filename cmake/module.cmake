# conet_module(NAME SOURCES ... DEPS ...)
# One module = one folder src/conet/<name>/ = one static library conet_<name>
# (alias conet::<name>) = one namespace conet::<name>. Which modules a module
# may depend on is checked by scripts/check-layers.py (docs/architecture.md).
function(conet_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(conet_${name} STATIC ${ARG_SOURCES})
  add_library(conet::${name} ALIAS conet_${name})
  target_include_directories(conet_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(conet_${name} PUBLIC ${ARG_DEPS})
endfunction()
