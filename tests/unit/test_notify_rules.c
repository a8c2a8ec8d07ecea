/*
 * test_notify_rules.c — the pure rules of a delivery (deliver_rules.c):
 * what an attempt's result means, Retry-After, backoff, the signature.
 */
#include <criterion/criterion.h>

#include <string.h>

#include "deliver.h"

#define NOW 1445412480000LL /* Wed, 21 Oct 2015 07:28:00 GMT */

static notify_outcome_t http(long code)
{
    notify_result_t r;
    notify_classify(0, NOTIFY_TRANSPORT_OK, code, NULL, NOW, NULL, &r);
    return r.outcome;
}

Test(notify_rules, http_status_classes)
{
    cr_assert_eq(http(200), NOTIFY_DELIVERED);
    cr_assert_eq(http(202), NOTIFY_DELIVERED);
    cr_assert_eq(http(204), NOTIFY_DELIVERED);
    cr_assert_eq(http(500), NOTIFY_RETRY);
    cr_assert_eq(http(502), NOTIFY_RETRY);
    cr_assert_eq(http(503), NOTIFY_RETRY);
    cr_assert_eq(http(408), NOTIFY_RETRY);
    cr_assert_eq(http(429), NOTIFY_RETRY);
    cr_assert_eq(http(400), NOTIFY_FAILED);
    cr_assert_eq(http(401), NOTIFY_FAILED);
    cr_assert_eq(http(404), NOTIFY_FAILED);
    cr_assert_eq(http(410), NOTIFY_FAILED);
    cr_assert_eq(http(301), NOTIFY_FAILED, "redirects are not followed");
}

Test(notify_rules, transport_failures)
{
    notify_result_t r;
    notify_classify(0, NOTIFY_TRANSPORT_CONNECT, 0, NULL, NOW, "Connection refused", &r);
    cr_assert_eq(r.outcome, NOTIFY_RETRY);
    cr_assert_str_eq(r.error, "could not connect: Connection refused");
    notify_classify(0, NOTIFY_TRANSPORT_TIMEOUT, 0, NULL, NOW, NULL, &r);
    cr_assert_eq(r.outcome, NOTIFY_RETRY);
    cr_assert_str_eq(r.error, "timed out");
    notify_classify(0, NOTIFY_TRANSPORT_BROKEN, 0, NULL, NOW, "reset", &r);
    cr_assert_eq(r.outcome, NOTIFY_RETRY);
    notify_classify(0, NOTIFY_TRANSPORT_REJECTED, 0, NULL, NOW, "bad URL", &r);
    cr_assert_eq(r.outcome, NOTIFY_FAILED);
    /* a timeout after a 200 header line still is a timeout */
    notify_classify(0, NOTIFY_TRANSPORT_TIMEOUT, 200, NULL, NOW, NULL, &r);
    cr_assert_eq(r.outcome, NOTIFY_RETRY);
    cr_assert_eq(r.code, 0);
}

Test(notify_rules, smtp_replies)
{
    notify_result_t r;
    notify_classify(1, NOTIFY_TRANSPORT_OK, 250, NULL, NOW, NULL, &r);
    cr_assert_eq(r.outcome, NOTIFY_DELIVERED);
    cr_assert_str_eq(r.error, "");
    /* a refusal ends the session with an error: the code decides */
    notify_classify(1, NOTIFY_TRANSPORT_BROKEN, 450, NULL, NOW, "RCPT failed", &r);
    cr_assert_eq(r.outcome, NOTIFY_RETRY);
    cr_assert_eq(r.code, 450);
    notify_classify(1, NOTIFY_TRANSPORT_BROKEN, 550, NULL, NOW, "RCPT failed", &r);
    cr_assert_eq(r.outcome, NOTIFY_FAILED);
    cr_assert(strstr(r.error, "SMTP 550"), "%s", r.error);
    /* an earlier step's 250 says nothing about a connection lost later */
    notify_classify(1, NOTIFY_TRANSPORT_BROKEN, 250, NULL, NOW, "lost", &r);
    cr_assert_eq(r.outcome, NOTIFY_RETRY);
    notify_classify(1, NOTIFY_TRANSPORT_TIMEOUT, 220, NULL, NOW, NULL, &r);
    cr_assert_eq(r.outcome, NOTIFY_RETRY);
}

Test(notify_rules, retry_after_seconds_and_dates)
{
    int64_t ms;
    cr_assert_eq(notify_retry_after_parse("120", NOW, &ms), 0);
    cr_assert_eq(ms, 120000);
    cr_assert_eq(notify_retry_after_parse(" 0 ", NOW, &ms), 0);
    cr_assert_eq(ms, 0);
    cr_assert_eq(notify_retry_after_parse("Wed, 21 Oct 2015 07:28:30 GMT", NOW, &ms), 0);
    cr_assert_eq(ms, 30000);
    cr_assert_eq(notify_retry_after_parse("Wednesday, 21-Oct-15 07:29:00 GMT", NOW, &ms), 0);
    cr_assert_eq(ms, 60000);
    cr_assert_eq(notify_retry_after_parse("Wed Oct 21 07:28:05 2015", NOW, &ms), 0);
    cr_assert_eq(ms, 5000);
    cr_assert_eq(notify_retry_after_parse("Wed, 21 Oct 2015 07:00:00 GMT", NOW, &ms), 0);
    cr_assert_eq(ms, 0, "a date in the past is now");
    cr_assert_eq(notify_retry_after_parse("soon", NOW, &ms), -1);
    cr_assert_eq(notify_retry_after_parse("12s", NOW, &ms), -1);
    cr_assert_eq(notify_retry_after_parse("-5", NOW, &ms), -1);
    cr_assert_eq(notify_retry_after_parse(NULL, NOW, &ms), -1);

    notify_result_t r;
    notify_classify(0, NOTIFY_TRANSPORT_OK, 429, "7", NOW, NULL, &r);
    cr_assert_eq(r.outcome, NOTIFY_RETRY);
    cr_assert_eq(r.retry_after_ms, 7000);
    cr_assert(strstr(r.error, "HTTP 429 (Retry-After 7s)"), "%s", r.error);
    notify_classify(0, NOTIFY_TRANSPORT_OK, 503, "Wed, 21 Oct 2015 07:29:00 GMT", NOW, NULL, &r);
    cr_assert_eq(r.retry_after_ms, 60000);
    notify_classify(0, NOTIFY_TRANSPORT_OK, 429, "garbage", NOW, NULL, &r);
    cr_assert_eq(r.retry_after_ms, -1);
    notify_classify(0, NOTIFY_TRANSPORT_OK, 500, "7", NOW, NULL, &r);
    cr_assert_eq(r.retry_after_ms, -1, "only 429 and 503 carry a Retry-After");
}

Test(notify_rules, backoff_doubles_to_the_max_with_bounded_jitter)
{
    /* rnd = base/4: exactly the base (3/4 + 1/4) */
    cr_assert_eq(notify_backoff_ms(1, 2000, 300000, 500), 2000);
    cr_assert_eq(notify_backoff_ms(2, 2000, 300000, 1000), 4000);
    cr_assert_eq(notify_backoff_ms(3, 2000, 300000, 2000), 8000);
    cr_assert_eq(notify_backoff_ms(8, 2000, 300000, 64000), 256000);
    cr_assert_eq(notify_backoff_ms(9, 2000, 300000, 0), 225000, "3/4 of the max");
    cr_assert_eq(notify_backoff_ms(50, 2000, 300000, 75000), 300000, "never past the max");
    cr_assert_eq(notify_backoff_ms(1000, 2000, 300000, UINT32_MAX), 300000);
    cr_assert_eq(notify_backoff_ms(0, 2000, 300000, 500), 2000, "attempt < 1 is the first");
    for (int attempt = 1; attempt <= 12; attempt++) {
        int64_t base = 2000;
        for (int i = 1; i < attempt; i++)
            base = base * 2 > 300000 ? 300000 : base * 2;
        for (uint32_t rnd = 0; rnd < 2000000; rnd += 99991) {
            int64_t d = notify_backoff_ms(attempt, 2000, 300000, rnd);
            cr_assert_geq(d, base - base / 4, "attempt %d rnd %u: %lld", attempt, rnd,
                          (long long)d);
            cr_assert_leq(d, base + base / 4);
            cr_assert_leq(d, 300000);
        }
    }
    /* jitter spreads: different random inputs give different delays */
    cr_assert_neq(notify_backoff_ms(3, 2000, 300000, 1), notify_backoff_ms(3, 2000, 300000, 3001));
    /* deterministic */
    cr_assert_eq(notify_backoff_ms(4, 2000, 300000, 12345),
                 notify_backoff_ms(4, 2000, 300000, 12345));
}

Test(notify_rules, retry_delay_honours_retry_after)
{
    notify_result_t r = {.outcome = NOTIFY_RETRY, .retry_after_ms = 60000};
    cr_assert_eq(notify_retry_delay_ms(&r, 1, 2000, 300000, 500), 60000);
    r.retry_after_ms = 1000; /* shorter than the backoff: the backoff */
    cr_assert_eq(notify_retry_delay_ms(&r, 1, 2000, 300000, 500), 2000);
    r.retry_after_ms = 48LL * 3600 * 1000;
    cr_assert_eq(notify_retry_delay_ms(&r, 1, 2000, 300000, 500), NOTIFY_RETRY_AFTER_MAX_MS);
    r.retry_after_ms = -1;
    cr_assert_eq(notify_retry_delay_ms(&r, 2, 2000, 300000, 1000), 4000);
}

Test(notify_rules, signature_is_hmac_sha256_hex)
{
    char sig[NOTIFY_SIGNATURE_SIZE];
    /* RFC 4231, test case 2 */
    const char *data = "what do ya want for nothing?";
    notify_signature("Jefe", data, strlen(data), sig);
    cr_assert_str_eq(sig,
                     "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    /* the body counts to its length, not to a NUL */
    notify_signature("Jefe", "what do ya want for nothing?!", strlen(data), sig);
    cr_assert_str_eq(sig,
                     "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    notify_signature("key", "", 0, sig);
    cr_assert_eq(strlen(sig), 71);
}

Test(notify_rules, names)
{
    cr_assert_str_eq(notify_outcome_name(NOTIFY_DELIVERED), "delivered");
    cr_assert_str_eq(notify_outcome_name(NOTIFY_RETRY), "retry");
    cr_assert_str_eq(notify_outcome_name(NOTIFY_FAILED), "failed");
}
