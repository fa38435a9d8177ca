# atlas_warnings(target): the warning set every target of ours builds with.
# Third-party headers come in as SYSTEM includes through their imported targets, so -Werror
# applies to our code only.
function(atlas_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Werror -Wshadow
                                           -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
                                           -Woverloaded-virtual)
endfunction()

# atlas_library(name SOURCES ... DEPS ...): a static library of one component.
function(atlas_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/server/src)
  target_link_libraries(${name} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  atlas_warnings(${name})
endfunction()
