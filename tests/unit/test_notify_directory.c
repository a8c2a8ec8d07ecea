/*
 * test_notify_directory.c — the directory in the configuration
 * (people.<name>.*, clients.<client>.*), the notify.* settings, their
 * validation, masking, and the lookups of directory.h.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "directory.h"
#include "testutil.h"

static char tmp_path[64];

static void setup(void)
{
    tu_clean_env();
    tmp_path[0] = '\0';
}

static void teardown(void)
{
    if (tmp_path[0])
        unlink(tmp_path);
}

TestSuite(directory, .init = setup, .fini = teardown);

/* Loads @p text as the config file; returns config_load()'s result. */
static int load_text(config_t *cfg, const char *text, char *err, size_t err_size)
{
    if (tmp_path[0])
        unlink(tmp_path);
    snprintf(tmp_path, sizeof(tmp_path), "/tmp/test_notify_dir_XXXXXX");
    int fd = mkstemp(tmp_path);
    cr_assert(fd >= 0);
    FILE *f = fdopen(fd, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    char *argv[] = {"incidentd", "--config", tmp_path, NULL};
    return config_load(cfg, 3, argv, err, err_size);
}

static char *print_to_string(const config_t *cfg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    config_print(cfg, f);
    fclose(f);
    return buf;
}

static const char people_conf[] = "people.alice.email = alice@example.com\n"
                                  "people.alice.slack = https://hooks.example/T0/B0/S3CRETslack\n"
                                  "people.alice.webhook = http://127.0.0.1:8081/hook\n"
                                  "people.alice.token = S3CRET-token-of-alice\n"
                                  "people.alice.role = Technical_Manager\n"
                                  "people.jane.doe.role = stakeholder\n"
                                  "people.jane.doe.email = jane@example.com\n"
                                  "clients.acme.webhook = https://status.acme.example/in\n"
                                  "clients.acme.email = ops@acme.example\n"
                                  "notify.webhook_secret = S3CRET-hmac\n"
                                  "notify.smtp_password = S3CRET-smtp\n"
                                  "notify.smtp_url = smtps://mail.example.com:465\n"
                                  "notify.console_url = https://console.example.com\n";

Test(directory, people_and_clients_load_and_look_up)
{
    config_t cfg;
    char err[512];
    cr_assert_eq(load_text(&cfg, people_conf, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(cfg.n_people, 2);
    cr_assert_eq(cfg.n_clients, 1);

    const directory_entry_t *a = directory_person(&cfg, "alice");
    cr_assert_not_null(a);
    cr_assert_eq(a->kind, DIRECTORY_PERSON);
    cr_assert_str_eq(a->email, "alice@example.com");
    cr_assert_str_eq(a->token, "S3CRET-token-of-alice");
    cr_assert_eq(a->role, DIRECTORY_ROLE_TECHNICAL_MANAGER);

    /* a dotted name: the field is after the last dot */
    const directory_entry_t *j = directory_person(&cfg, "jane.doe");
    cr_assert_not_null(j);
    cr_assert_eq(j->role, DIRECTORY_ROLE_STAKEHOLDER);
    cr_assert_str_eq(j->webhook, "");

    cr_assert_null(directory_person(&cfg, "acme"), "a client is not a person");
    cr_assert_null(directory_person(&cfg, "nobody"));
    cr_assert_null(directory_person(&cfg, NULL));
    const directory_entry_t *c = directory_client(&cfg, "acme");
    cr_assert_not_null(c);
    cr_assert_eq(c->kind, DIRECTORY_CLIENT);
    cr_assert_null(directory_client(&cfg, "alice"));

    /* the channels, in the fixed order email, webhook, slack */
    directory_address_t ch[DIRECTORY_CHANNEL_COUNT];
    cr_assert_eq(directory_channels(a, ch), 3);
    cr_assert_eq(ch[0].channel, DIRECTORY_CHANNEL_EMAIL);
    cr_assert_str_eq(ch[0].address, "alice@example.com");
    cr_assert_eq(ch[1].channel, DIRECTORY_CHANNEL_WEBHOOK);
    cr_assert_str_eq(ch[1].address, "http://127.0.0.1:8081/hook");
    cr_assert_eq(ch[2].channel, DIRECTORY_CHANNEL_SLACK);
    cr_assert_eq(directory_channels(j, ch), 1);
    cr_assert_eq(ch[0].channel, DIRECTORY_CHANNEL_EMAIL);
    cr_assert_eq(directory_channels(c, ch), 2);
    cr_assert_eq(ch[0].channel, DIRECTORY_CHANNEL_EMAIL);
    cr_assert_eq(ch[1].channel, DIRECTORY_CHANNEL_WEBHOOK);
    cr_assert_eq(directory_channels(NULL, ch), 0);

    cr_assert_str_eq(cfg.notify_smtp_url, "smtps://mail.example.com:465");
    cr_assert_eq(cfg.notify_max_attempts, 8);
    cr_assert_eq(cfg.notify_retry_initial_ms, 2000);
    cr_assert_eq(cfg.notify_retry_max_ms, 300000);
    cr_assert_eq(cfg.notify_timeout_ms, 10000);
    cr_assert_eq(cfg.notify_concurrency, 16);
    config_destroy(&cfg);
}

Test(directory, print_masks_tokens_slack_urls_and_notify_secrets)
{
    config_t cfg;
    char err[512];
    cr_assert_eq(load_text(&cfg, people_conf, err, sizeof(err)), 0, "%s", err);
    char *out = print_to_string(&cfg);
    cr_assert_null(strstr(out, "S3CRET"), "secret printed:\n%s", out);
    cr_assert(strstr(out, "people.alice.token = ***\n"), "%s", out);
    cr_assert(strstr(out, "people.alice.slack = ***\n"), "%s", out);
    cr_assert(strstr(out, "people.alice.email = alice@example.com\n"), "%s", out);
    cr_assert(strstr(out, "people.alice.role = technical_manager\n"), "%s", out);
    cr_assert(strstr(out, "people.jane.doe.role = stakeholder\n"), "%s", out);
    cr_assert(strstr(out, "clients.acme.email = ops@acme.example\n"), "%s", out);
    cr_assert(strstr(out, "notify.webhook_secret = ***\n"), "%s", out);
    cr_assert(strstr(out, "notify.smtp_password = ***\n"), "%s", out);
    free(out);
    config_destroy(&cfg);
}

Test(directory, later_values_replace_and_empty_values_remove)
{
    config_t cfg;
    char err[512];
    cr_assert_eq(load_text(&cfg,
                           "people.bob.email = bob@old.example\n"
                           "people.bob.role = technical_manager\n"
                           "people.bob.email = bob@new.example\n"
                           "people.bob.role =\n",
                           err, sizeof(err)),
                 0, "%s", err);
    const directory_entry_t *b = directory_person(&cfg, "bob");
    cr_assert_not_null(b);
    cr_assert_str_eq(b->email, "bob@new.example");
    cr_assert_eq(b->role, DIRECTORY_ROLE_VIEWER, "an empty role is the default, viewer");
    cr_assert_eq(cfg.n_people, 1);
    config_destroy(&cfg);
}

/* Each bad line is refused with the file, line and key, and the reason. */
Test(directory, bad_entries_name_key_line_and_reason)
{
    static const struct {
        const char *line, *key, *why;
    } cases[] = {
        {"people.bob.role = boss", "people.bob.role", "unknown role 'boss'"},
        {"people.bob.email = bob.example.com", "people.bob.email", "no '@'"},
        {"people.bob.email = bob@", "people.bob.email", "local@domain"},
        {"people.bob.email = \"bob@x.example\\nBcc: eve@x\"", "people.bob.email",
         "not an email address"},
        {"people.bob.webhook = ftp://x.example/h", "people.bob.webhook", "http:// or https://"},
        {"people.bob.slack = https://", "people.bob.slack", "without a host"},
        {"people.bob.phone = 123", "people.bob.phone", "unknown field 'phone'"},
        {"people.bob = x@y", "people.bob", "expected people.<name>.<field>"},
        {"people.b!b.email = x@y", "people.b!b.email", "may only hold"},
        {"clients.acme.slack = https://x.example", "clients.acme.slack", "valid: email, webhook"},
        {"clients.acme.role = viewer", "clients.acme.role", "unknown field 'role'"},
        {"notify.smtp_url = http://mail.example", "notify.smtp_url", "smtp:// or smtps://"},
        {"notify.smtp_url = smtp://u:pw@mail.example", "notify.smtp_url", "notify.smtp_user"},
        {"notify.smtp_from = incidentd", "notify.smtp_from", "no '@'"},
        {"notify.console_url = console.example", "notify.console_url", "http:// or https://"},
        {"notify.max_attempts = 0", "notify.max_attempts", "out of range"},
        {"notify.timeout = 1h", "notify.timeout", "out of range"},
        {"notify.concurrency = many", "notify.concurrency", "not an integer"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        config_t cfg;
        char err[512], text[256];
        snprintf(text, sizeof(text), "# comment\n%s\n", cases[i].line);
        cr_assert_eq(load_text(&cfg, text, err, sizeof(err)), -1, "accepted: %s", cases[i].line);
        char where[128];
        snprintf(where, sizeof(where), "%s:2: %s: ", tmp_path, cases[i].key);
        cr_assert(strstr(err, where), "'%s' -> %s", cases[i].line, err);
        cr_assert(strstr(err, cases[i].why), "'%s' -> %s", cases[i].line, err);
        config_destroy(&cfg);
    }
}

Test(directory, a_bad_token_is_refused_without_showing_it)
{
    config_t cfg;
    char err[512];
    cr_assert_eq(load_text(&cfg, "people.bob.token = S3CRET-x\n", err, sizeof(err)), -1);
    cr_assert(strstr(err, "people.bob.token"), "%s", err);
    cr_assert(strstr(err, "16 characters"), "%s", err);
    cr_assert_null(strstr(err, "S3CRET"), "%s", err);
    config_destroy(&cfg);
    cr_assert_eq(
        load_text(&cfg, "people.bob.token = \"S3CRET with spaces in it\"\n", err, sizeof(err)), -1);
    cr_assert_null(strstr(err, "S3CRET"), "%s", err);
    config_destroy(&cfg);
}

Test(directory, whole_config_checks)
{
    config_t cfg;
    char err[512];
    cr_assert_eq(load_text(&cfg,
                           "people.a.token = same-token-0123456789\n"
                           "people.b.token = same-token-0123456789\n",
                           err, sizeof(err)),
                 -1);
    cr_assert(strstr(err, "people.b.token") && strstr(err, "people.a.token"), "%s", err);
    cr_assert_null(strstr(err, "same-token"), "token shown: %s", err);
    config_destroy(&cfg);

    cr_assert_eq(load_text(&cfg, "notify.smtp_url =\nclients.acme.email = a@acme.example\n", err,
                           sizeof(err)),
                 -1);
    cr_assert(strstr(err, "clients.acme.email") && strstr(err, "notify.smtp_url"), "%s", err);
    config_destroy(&cfg);

    cr_assert_eq(load_text(&cfg, "notify.smtp_url =\npeople.x.webhook = http://h.example/\n", err,
                           sizeof(err)),
                 0, "no email, no mail server needed: %s", err);
    config_destroy(&cfg);

    cr_assert_eq(
        load_text(&cfg, "notify.retry.initial = 10m\nnotify.retry.max = 1m\n", err, sizeof(err)),
        -1);
    cr_assert(strstr(err, "notify.retry.initial"), "%s", err);
    config_destroy(&cfg);
}

Test(directory, names_parse_back)
{
    for (int r = DIRECTORY_ROLE_VIEWER; r <= DIRECTORY_ROLE_TECHNICAL_MANAGER; r++)
        cr_assert_eq(directory_role_parse(directory_role_name((directory_role_t)r)), r);
    cr_assert_eq(directory_role_parse("owner"), -1);
    cr_assert_str_eq(directory_role_name((directory_role_t)99), "unknown");
    for (int c = 0; c < DIRECTORY_CHANNEL_COUNT; c++)
        cr_assert_eq(directory_channel_parse(directory_channel_name((directory_channel_t)c)), c);
    cr_assert_eq(directory_channel_parse("sms"), -1);
}
