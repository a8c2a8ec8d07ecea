file(REMOVE_RECURSE
  "CMakeFiles/incidentd.dir/daemon/main.c.o"
  "CMakeFiles/incidentd.dir/daemon/main.c.o.d"
  "bin/incidentd"
  "bin/incidentd.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/incidentd.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
