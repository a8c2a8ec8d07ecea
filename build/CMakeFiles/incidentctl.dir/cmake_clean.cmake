file(REMOVE_RECURSE
  "CMakeFiles/incidentctl.dir/daemon/incidentctl.c.o"
  "CMakeFiles/incidentctl.dir/daemon/incidentctl.c.o.d"
  "bin/incidentctl"
  "bin/incidentctl.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/incidentctl.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
