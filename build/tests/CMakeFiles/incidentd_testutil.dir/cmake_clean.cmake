file(REMOVE_RECURSE
  "CMakeFiles/incidentd_testutil.dir/testutil.c.o"
  "CMakeFiles/incidentd_testutil.dir/testutil.c.o.d"
  "libincidentd_testutil.a"
  "libincidentd_testutil.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/incidentd_testutil.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
