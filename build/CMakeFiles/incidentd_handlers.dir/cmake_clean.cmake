file(REMOVE_RECURSE
  "CMakeFiles/incidentd_handlers.dir/handlers/arena.c.o"
  "CMakeFiles/incidentd_handlers.dir/handlers/arena.c.o.d"
  "libincidentd_handlers.a"
  "libincidentd_handlers.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/incidentd_handlers.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
