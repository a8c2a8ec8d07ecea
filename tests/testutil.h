/*
 * testutil.h — helpers shared by the tests: the test bed's addresses.
 */
#ifndef INCIDENTD_TESTUTIL_H
#define INCIDENTD_TESTUTIL_H

/**
 * Reads the test bed's settings: INCIDENTD_TEST_BROKERS / INCIDENTD_TEST_REDIS
 * from the environment, else from the env file named by INCIDENTD_TESTBED_ENV
 * (KEY=VALUE lines written by deploy/testbed.sh). Returns the value of @p key
 * (a static string) or NULL.
 */
const char *tu_testbed(const char *key);

/** Brokers ("host:port") of the test bed; aborts the test if absent. */
const char *tu_brokers(void);
/** Redis URL ("redis://host:port/0") of the test bed; aborts if absent. */
const char *tu_redis(void);
/** A fresh unique name with @p prefix, for topics and keys of one test. */
const char *tu_unique(const char *prefix);

#endif
