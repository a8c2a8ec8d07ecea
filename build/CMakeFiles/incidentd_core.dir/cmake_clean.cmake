file(REMOVE_RECURSE
  "CMakeFiles/incidentd_core.dir/daemon/log.c.o"
  "CMakeFiles/incidentd_core.dir/daemon/log.c.o.d"
  "libincidentd_core.a"
  "libincidentd_core.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/incidentd_core.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
