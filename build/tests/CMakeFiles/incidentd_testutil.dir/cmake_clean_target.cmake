file(REMOVE_RECURSE
  "libincidentd_testutil.a"
)
