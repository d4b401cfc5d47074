// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_vmfs_conf.c - vmfs.conf(5) as vmfs_conf.c reads it: the defaults, which file is
 * read (-c, $VMFS_CONFIG, /etc/vmfs/vmfs.conf), the syntax (blanks, comments, quotes,
 * CRLF, text that is not NUL-terminated), every refusal with its exact message and
 * -errno and *out left untouched, the timing bound of lk_timing_check at its boundary,
 * reading a file, and the IPC name derived from run_dir.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <cmocka.h>

#include "lockd/conf/vmfs_conf.h"

#define F "/etc/vmfs/vmfs.conf"
#define DS "datastore = /mnt/ds1\n"

/* Parses a NUL-terminated text as F; the result in *c, the message in err. */
static int parse(const char *text, struct vmfs_conf *c, char err[VMFS_CONF_ERR_MAX])
{
	err[0] = '\0';
	return vmfs_conf_parse(text, strlen(text), F, c, err, VMFS_CONF_ERR_MAX);
}

/* text must be refused with -EINVAL and exactly want, leaving the output untouched. */
static void expect_refused(const char *text, const char *want)
{
	static struct vmfs_conf c, before;
	char err[VMFS_CONF_ERR_MAX];
	int rc;

	memset(&c, 0x5a, sizeof(c));
	before = c;
	rc = parse(text, &c, err);
	if (rc != -EINVAL)
		fail_msg("accepted (%d): %s", rc, text);
	assert_string_equal(err, want);
	assert_memory_equal(&c, &before, sizeof(c));
}

static void expect_accepted(const char *text, struct vmfs_conf *c)
{
	char err[VMFS_CONF_ERR_MAX];
	int rc = parse(text, c, err);

	if (rc)
		fail_msg("refused (%d): %s", rc, err);
}

/* --- defaults and search order ------------------------------------------------------ */

static void test_vmfs_conf_defaults(void **state)
{
	struct vmfs_conf c;

	(void)state;
	memset(&c, 0x5a, sizeof(c));
	vmfs_conf_defaults(&c);
	assert_string_equal(c.path, "");
	assert_string_equal(c.datastore, "");
	assert_string_equal(c.run_dir, "/run/vmfs");
	assert_string_equal(c.mountpoint, "/vmfs");
	assert_int_equal(c.hb_interval_ms, 1000);
	assert_int_equal(c.host_dead_ms, 10000);
	assert_int_equal(c.io_timeout_ms, 2000);
	assert_int_equal(c.handoff_timeout_ms, 30000);
	assert_int_equal(c.isolation, VMFS_ISOLATION_KEEP);
	assert_int_equal(c.log_level, LOG_INFO);
}

static void test_vmfs_conf_path_search_order(void **state)
{
	(void)state;
	assert_int_equal(setenv(VMFS_CONF_ENV, "/tmp/env.conf", 1), 0);
	assert_string_equal(vmfs_conf_path("/tmp/explicit.conf"), "/tmp/explicit.conf");
	assert_string_equal(vmfs_conf_path(""), ""); /* -c "" is still explicit */
	assert_string_equal(vmfs_conf_path(NULL), "/tmp/env.conf");
	assert_int_equal(setenv(VMFS_CONF_ENV, "", 1), 0);
	assert_string_equal(vmfs_conf_path(NULL), "/etc/vmfs/vmfs.conf");
	assert_int_equal(unsetenv(VMFS_CONF_ENV), 0);
	assert_string_equal(vmfs_conf_path(NULL), VMFS_CONF_DEFAULT_PATH);
}

/* --- syntax --------------------------------------------------------------------------- */

static void test_vmfs_conf_minimal_file_gets_defaults(void **state)
{
	struct vmfs_conf c, d;

	(void)state;
	expect_accepted(DS, &c);
	vmfs_conf_defaults(&d);
	strcpy(d.path, F);
	strcpy(d.datastore, "/mnt/ds1");
	assert_memory_equal(&c, &d, sizeof(c));
}

static void test_vmfs_conf_every_key(void **state)
{
	struct vmfs_conf c;

	(void)state;
	expect_accepted("datastore = /dev/disk/by-id/scsi-36001405abcdef\n"
			"run_dir = /run/vmfs-b\n"
			"mountpoint = /srv/vmfs\n"
			"hb_interval_ms = 500\n"
			"host_dead_ms = 20000\n"
			"io_timeout_ms = 3000\n"
			"handoff_timeout_ms = 60000\n"
			"isolation = fence\n"
			"log_level = debug\n",
			&c);
	assert_string_equal(c.path, F);
	assert_string_equal(c.datastore, "/dev/disk/by-id/scsi-36001405abcdef");
	assert_string_equal(c.run_dir, "/run/vmfs-b");
	assert_string_equal(c.mountpoint, "/srv/vmfs");
	assert_int_equal(c.hb_interval_ms, 500);
	assert_int_equal(c.host_dead_ms, 20000);
	assert_int_equal(c.io_timeout_ms, 3000);
	assert_int_equal(c.handoff_timeout_ms, 60000);
	assert_int_equal(c.isolation, VMFS_ISOLATION_FENCE);
	assert_int_equal(c.log_level, LOG_DEBUG);
}

static void test_vmfs_conf_blanks_comments_and_quotes(void **state)
{
	struct vmfs_conf c;

	(void)state;
	expect_accepted("# vmfs.conf\n"
			"\n"
			"   \t\n"
			"  # indented comment = with an equals sign\n"
			"\tdatastore\t=\t\"/mnt/nas #1/ds\"   # quoted: '#' is part of the value\n"
			"run_dir=/run/vmfs#2\n"         /* '#' not after a blank: part of the value */
			"mountpoint = /srv/my vmfs  # a comment after a blank\n"
			"isolation = \"keep\"# right after the closing quote\n"
			"log_level =  warning  \n",
			&c);
	assert_string_equal(c.datastore, "/mnt/nas #1/ds");
	assert_string_equal(c.run_dir, "/run/vmfs#2");
	assert_string_equal(c.mountpoint, "/srv/my vmfs");
	assert_int_equal(c.isolation, VMFS_ISOLATION_KEEP);
	assert_int_equal(c.log_level, LOG_WARNING);
}

static void test_vmfs_conf_crlf_and_no_final_newline(void **state)
{
	struct vmfs_conf c;

	(void)state;
	expect_accepted("datastore = /mnt/ds1\r\nlog_level = error\r\nisolation = fence", &c);
	assert_string_equal(c.datastore, "/mnt/ds1");
	assert_int_equal(c.log_level, LOG_ERR);
	assert_int_equal(c.isolation, VMFS_ISOLATION_FENCE);
}

static void test_vmfs_conf_text_need_not_be_nul_terminated(void **state)
{
	static const char text[] = "datastore = /mnt/ds1\nlog_level = notice"; /* "notice!" */
	char buf[sizeof(text)];
	char err[VMFS_CONF_ERR_MAX];
	struct vmfs_conf c;

	(void)state;
	memcpy(buf, text, sizeof(text) - 1);
	buf[sizeof(text) - 1] = '!';
	assert_int_equal(vmfs_conf_parse(buf, sizeof(buf) - 1, "mem", &c, err, sizeof(err)), 0);
	assert_int_equal(c.log_level, LOG_NOTICE);
	assert_string_equal(c.path, "mem");
	/* The byte after len is not read: with it the value would be "notice!". */
	assert_int_equal(vmfs_conf_parse(buf, sizeof(buf), "mem", &c, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "mem:2: log_level: 'notice!' is not one of error, warning, "
				 "notice, info, debug");
}

static void test_vmfs_conf_trailing_slashes_removed(void **state)
{
	struct vmfs_conf c;

	(void)state;
	expect_accepted("datastore = /mnt/ds1//\nrun_dir = /run/vmfs/\nmountpoint = /\n", &c);
	assert_string_equal(c.datastore, "/mnt/ds1");
	assert_string_equal(c.run_dir, "/run/vmfs");
	assert_string_equal(c.mountpoint, "/");
}

static void test_vmfs_conf_utf8_accepted(void **state)
{
	struct vmfs_conf c;

	(void)state;
	expect_accepted("# commentaire: données\ndatastore = /mnt/données/日本/🗄\n", &c);
	assert_string_equal(c.datastore, "/mnt/données/日本/🗄");
}

static void test_vmfs_conf_log_levels(void **state)
{
	static const struct {
		const char *word;
		int level;
	} levels[] = {
		{ .word = "error", .level = LOG_ERR },
		{ .word = "warning", .level = LOG_WARNING },
		{ .word = "notice", .level = LOG_NOTICE },
		{ .word = "info", .level = LOG_INFO },
		{ .word = "debug", .level = LOG_DEBUG },
	};
	char text[128];
	struct vmfs_conf c;

	(void)state;
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		snprintf(text, sizeof(text), DS "log_level = %s\n", levels[i].word);
		expect_accepted(text, &c);
		assert_int_equal(c.log_level, levels[i].level);
	}
}

/* --- refusals: syntax ----------------------------------------------------------------- */

static void test_vmfs_conf_unknown_key(void **state)
{
	(void)state;
	expect_refused(DS "\nhost_dead = 5000\n", F ":3: unknown key 'host_dead'");
	expect_refused(DS "Datastore = /x\n", F ":2: unknown key 'Datastore'");
}

static void test_vmfs_conf_duplicate_key(void **state)
{
	(void)state;
	expect_refused("# a\n" DS "log_level = info\ndatastore = /mnt/ds2\n",
		       F ":4: datastore: duplicate key (already set on line 2)");
}

static void test_vmfs_conf_missing_equals(void **state)
{
	(void)state;
	expect_refused(DS "isolation fence  # keep = no\n",
		       F ":2: 'isolation fence': missing '=' (expected key = value)");
	expect_refused("= /mnt/ds1\n", F ":1: missing key before '='");
}

static void test_vmfs_conf_empty_value(void **state)
{
	(void)state;
	expect_refused(DS "mountpoint =\n", F ":2: mountpoint: empty value");
	expect_refused(DS "mountpoint = \"\"\n", F ":2: mountpoint: empty value");
	expect_refused(DS "mountpoint =   # nothing\n", F ":2: mountpoint: empty value");
}

static void test_vmfs_conf_bad_quotes(void **state)
{
	(void)state;
	expect_refused("datastore = \"/mnt/ds1\n", F ":1: datastore: missing the closing '\"'");
	expect_refused("datastore = \"/mnt/ds1\" x\n",
		       F ":1: datastore: text after the closing '\"'");
}

static void test_vmfs_conf_line_too_long(void **state)
{
	static char text[4200];
	char err[VMFS_CONF_ERR_MAX];
	struct vmfs_conf c;
	size_t n;

	(void)state;
	/* Exactly 4096 bytes, then "\r\n" (not counted): accepted. */
	n = (size_t)snprintf(text, sizeof(text), DS "#");
	memset(text + n, 'x', 4096 - 1);
	memcpy(text + n + 4095, "\r\n", 3);
	assert_int_equal(parse(text, &c, err), 0);
	/* 4097 bytes. */
	memcpy(text + n + 4095, "x\n", 3);
	expect_refused(text, F ":2: line longer than 4096 bytes");
}

static void test_vmfs_conf_nul_byte(void **state)
{
	static const char text[] = DS "run_dir = /run/\0vmfs\n";
	char err[VMFS_CONF_ERR_MAX];
	struct vmfs_conf c, before;

	(void)state;
	memset(&c, 0, sizeof(c));
	before = c;
	assert_int_equal(vmfs_conf_parse(text, sizeof(text) - 1, F, &c, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, F ":2: run_dir: NUL byte at byte 16");
	assert_memory_equal(&c, &before, sizeof(c));
}

static void test_vmfs_conf_control_characters(void **state)
{
	(void)state;
	expect_refused(DS "run_dir = /run/\avmfs\n",
		       F ":2: run_dir: control character U+0007 at byte 16");
	expect_refused(DS "run_dir = /run/vmfs\r\r\n",
		       F ":2: run_dir: control character U+000D at byte 20");
	expect_refused(DS "# \x1b[1m\n", F ":2: control character U+001B at byte 3");
	expect_refused("\x7f" DS, F ":1: control character U+007F at byte 1");
	expect_refused(DS "mountpoint = /a\xc2\x85\n", /* U+0085, a C1 control */
		       F ":2: mountpoint: control character U+0085 at byte 16");
}

static void test_vmfs_conf_invalid_utf8(void **state)
{
	(void)state;
	expect_refused("datastore = /mnt/d\xe9s\n", /* Latin-1 */
		       F ":1: datastore: invalid UTF-8 at byte 19");
	expect_refused("datastore = /mnt/\x80\n", /* lone continuation byte */
		       F ":1: datastore: invalid UTF-8 at byte 18");
	expect_refused("datastore = /\xc0\xaf\n", /* overlong "/" */
		       F ":1: datastore: invalid UTF-8 at byte 14");
	expect_refused("datastore = /\xed\xa0\x80\n", /* surrogate U+D800 */
		       F ":1: datastore: invalid UTF-8 at byte 14");
	expect_refused("datastore = /\xf4\x90\x80\x80\n", /* above U+10FFFF */
		       F ":1: datastore: invalid UTF-8 at byte 14");
	expect_refused("datastore = /\xe6\x97", /* cut short by the end of the text */
		       F ":1: datastore: invalid UTF-8 at byte 14");
	expect_refused("data\xffstore = /x\n", F ":1: invalid UTF-8 at byte 5");
}

/* --- refusals: values ----------------------------------------------------------------- */

static void test_vmfs_conf_not_a_number(void **state)
{
	(void)state;
	expect_refused("# 1\n# 2\n# 3\n# 4\n# 5\n" DS "host_dead_ms = ten\n",
		       "/etc/vmfs/vmfs.conf:7: host_dead_ms: 'ten' is not a number of milliseconds");
	expect_refused(DS "io_timeout_ms = -2000\n",
		       F ":2: io_timeout_ms: '-2000' is not a number of milliseconds");
	expect_refused(DS "io_timeout_ms = +2000\n",
		       F ":2: io_timeout_ms: '+2000' is not a number of milliseconds");
	expect_refused(DS "io_timeout_ms = 2000ms\n",
		       F ":2: io_timeout_ms: '2000ms' is not a number of milliseconds");
	expect_refused(DS "io_timeout_ms = 2 000\n",
		       F ":2: io_timeout_ms: '2 000' is not a number of milliseconds");
	expect_refused(DS "io_timeout_ms = 2.5\n",
		       F ":2: io_timeout_ms: '2.5' is not a number of milliseconds");
}

static void test_vmfs_conf_number_overflow(void **state)
{
	(void)state;
	expect_refused(DS "handoff_timeout_ms = 4294967296\n",
		       F ":2: handoff_timeout_ms: '4294967296' is out of range "
			 "(1000..3600000 milliseconds)");
	expect_refused(DS "handoff_timeout_ms = 99999999999999999999999999\n",
		       F ":2: handoff_timeout_ms: '99999999999999999999999999' is out of range "
			 "(1000..3600000 milliseconds)");
}

static void test_vmfs_conf_number_ranges(void **state)
{
	static const struct {
		const char *key;
		uint32_t min, max;
		size_t offset;
	} ranges[] = {
		{ .key = "hb_interval_ms", .min = 100, .max = 60000,
		  .offset = offsetof(struct vmfs_conf, hb_interval_ms) },
		{ .key = "host_dead_ms", .min = 1000, .max = 600000,
		  .offset = offsetof(struct vmfs_conf, host_dead_ms) },
		{ .key = "io_timeout_ms", .min = 100, .max = 60000,
		  .offset = offsetof(struct vmfs_conf, io_timeout_ms) },
		{ .key = "handoff_timeout_ms", .min = 1000, .max = 3600000,
		  .offset = offsetof(struct vmfs_conf, handoff_timeout_ms) },
	};
	/* Timing that passes lk_timing_check for every in-range value of the key tested. */
	static const char *const ok_timing[] = {
		"host_dead_ms = 600000\n",
		"hb_interval_ms = 100\nio_timeout_ms = 100\n",
		"host_dead_ms = 600000\n",
		"",
	};
	char text[256], want[256];
	struct vmfs_conf c;
	uint32_t got;

	(void)state;
	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		const uint32_t bad[] = { 0, ranges[i].min - 1, ranges[i].max + 1 };
		const uint32_t good[] = { ranges[i].min, ranges[i].max };

		for (size_t j = 0; j < 3; j++) {
			snprintf(text, sizeof(text), DS "%s = %u\n", ranges[i].key, bad[j]);
			snprintf(want, sizeof(want),
				 F ":2: %s: '%u' is out of range (%u..%u milliseconds)",
				 ranges[i].key, bad[j], ranges[i].min, ranges[i].max);
			expect_refused(text, want);
		}
		for (size_t j = 0; j < 2; j++) {
			snprintf(text, sizeof(text), DS "%s%s = %u\n", ok_timing[i],
				 ranges[i].key, good[j]);
			expect_accepted(text, &c);
			memcpy(&got, (const char *)&c + ranges[i].offset, sizeof(got));
			assert_int_equal(got, good[j]);
		}
	}
}

static void test_vmfs_conf_leading_zeros_are_decimal(void **state)
{
	struct vmfs_conf c;

	(void)state;
	expect_accepted(DS "io_timeout_ms = 0100\n", &c);
	assert_int_equal(c.io_timeout_ms, 100);
}

static void test_vmfs_conf_bad_isolation(void **state)
{
	(void)state;
	expect_refused(DS "isolation = reboot\n", F ":2: isolation: 'reboot' is not keep or fence");
	expect_refused(DS "isolation = Fence\n", F ":2: isolation: 'Fence' is not keep or fence");
}

static void test_vmfs_conf_bad_log_level(void **state)
{
	(void)state;
	expect_refused(DS "log_level = 7\n",
		       F ":2: log_level: '7' is not one of error, warning, notice, info, debug");
	expect_refused(DS "log_level = warn\n",
		       F ":2: log_level: 'warn' is not one of error, warning, notice, info, debug");
}

static void test_vmfs_conf_relative_path(void **state)
{
	(void)state;
	expect_refused("datastore = mnt/ds1\n", F ":1: datastore: 'mnt/ds1' is not an absolute path");
	expect_refused(DS "run_dir = ./run\n", F ":2: run_dir: './run' is not an absolute path");
	expect_refused(DS "mountpoint = \"~/vmfs\"\n",
		       F ":2: mountpoint: '~/vmfs' is not an absolute path");
}

static void test_vmfs_conf_path_too_long(void **state)
{
	static char text[4200];
	char err[VMFS_CONF_ERR_MAX];
	struct vmfs_conf c;
	size_t n;

	(void)state;
	n = (size_t)snprintf(text, sizeof(text), "datastore = /");
	memset(text + n, 'a', 3838); /* 3839 bytes with the "/" */
	strcpy(text + n + 3838, "///\n");
	assert_int_equal(parse(text, &c, err), 0);
	assert_int_equal(strlen(c.datastore), 3839);
	strcpy(text + n + 3838, "b\n");
	expect_refused(text, F ":1: datastore: path too long (3840 bytes, at most 3839)");
}

static void test_vmfs_conf_long_value_quoted_back_shortened(void **state)
{
	static char text[512];
	char want[256];

	(void)state;
	/* A 2-byte character straddles byte 64: the quote stops before it. */
	snprintf(text, sizeof(text), DS "log_level = %.63s\xc3\xa9%s\n",
		 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
		 "yyyyyyyy");
	snprintf(want, sizeof(want),
		 F ":2: log_level: '%.63s' is not one of error, warning, notice, info, debug",
		 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	expect_refused(text, want);
}

/* --- refusals: the whole file --------------------------------------------------------- */

static void test_vmfs_conf_datastore_missing(void **state)
{
	(void)state;
	expect_refused("", F ": datastore: missing (the directory or device of the shared datastore)");
	expect_refused("# only comments\nlog_level = debug\n",
		       F ": datastore: missing (the directory or device of the shared datastore)");
}

static void test_vmfs_conf_timing_bound(void **state)
{
	struct vmfs_conf c;

	(void)state;
	/* Defaults for the rest: 2 * 1000 + 3 * 2000 + max(10, 8040 / 200) = 8040. */
	expect_accepted(DS "host_dead_ms = 8040\n", &c);
	assert_int_equal(c.host_dead_ms, 8040);
	expect_refused(DS "host_dead_ms = 8039\n",
		       F ":2: host_dead_ms: 8039 is too short: it must be at least 2 * "
			 "hb_interval_ms + 3 * io_timeout_ms + skew = 2 * 1000 + 3 * 2000 + 40 "
			 "= 8040");
	/* host_dead_ms left at its default, broken by the other two: no line to name. */
	expect_refused(DS "hb_interval_ms = 3000\nio_timeout_ms = 2000\n",
		       F ": host_dead_ms: 10000 is too short: it must be at least 2 * "
			 "hb_interval_ms + 3 * io_timeout_ms + skew = 2 * 3000 + 3 * 2000 + 50 "
			 "= 12050");
	/* skew stays at its floor of 10 ms for a short host_dead. */
	expect_accepted(DS "hb_interval_ms = 100\nio_timeout_ms = 100\nhost_dead_ms = 1000\n",
			&c);
}

static void test_vmfs_conf_first_error_wins(void **state)
{
	(void)state;
	expect_refused("log_level = loud\ndatastore = relative\n",
		       F ":1: log_level: 'loud' is not one of error, warning, notice, info, debug");
}

static void test_vmfs_conf_err_may_be_null(void **state)
{
	struct vmfs_conf c;
	char err[8] = "unset";

	(void)state;
	assert_int_equal(vmfs_conf_parse("x", 1, F, &c, NULL, 0), -EINVAL);
	assert_int_equal(vmfs_conf_parse("x", 1, F, &c, err, 0), -EINVAL);
	assert_string_equal(err, "unset");
	/* A short buffer gets a truncated, terminated message. */
	assert_int_equal(vmfs_conf_parse("x", 1, F, &c, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "/etc/vm");
}

/* --- load ----------------------------------------------------------------------------- */

/* The group's state: a fresh directory under /tmp, removed at the end. */
static int setup_tmpdir(void **state)
{
	static char dir[64];

	strcpy(dir, "/tmp/test_vmfs_conf.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	*state = dir;
	return 0;
}

static int teardown_tmpdir(void **state)
{
	const char *dir = *state;
	char path[128];

	snprintf(path, sizeof(path), "%s/vmfs.conf", dir);
	unlink(path);
	return rmdir(dir);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void test_vmfs_conf_load_reads_the_file(void **state)
{
	char path[128], err[VMFS_CONF_ERR_MAX] = "";
	struct vmfs_conf c;
	const char *tmpdir = *state;

	snprintf(path, sizeof(path), "%s/vmfs.conf", tmpdir);
	write_file(path, "datastore = /mnt/ds1\nisolation = fence\n");
	assert_int_equal(vmfs_conf_load(path, &c, err, sizeof(err)), 0);
	assert_string_equal(c.path, path);
	assert_string_equal(c.datastore, "/mnt/ds1");
	assert_int_equal(c.isolation, VMFS_ISOLATION_FENCE);
	assert_string_equal(err, "");
}

static void test_vmfs_conf_load_names_the_file_in_parse_errors(void **state)
{
	char path[128], want[256], err[VMFS_CONF_ERR_MAX];
	struct vmfs_conf c, before;
	const char *tmpdir = *state;

	snprintf(path, sizeof(path), "%s/vmfs.conf", tmpdir);
	write_file(path, "datastore = /mnt/ds1\n\nio_timeout_ms = 2s\n");
	memset(&c, 0x5a, sizeof(c));
	before = c;
	assert_int_equal(vmfs_conf_load(path, &c, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:3: io_timeout_ms: '2s' is not a number of milliseconds",
		 path);
	assert_string_equal(err, want);
	assert_memory_equal(&c, &before, sizeof(c));
}

static void test_vmfs_conf_load_missing_file(void **state)
{
	char path[128], want[256], err[VMFS_CONF_ERR_MAX];
	struct vmfs_conf c, before;
	const char *tmpdir = *state;

	snprintf(path, sizeof(path), "%s/absent.conf", tmpdir);
	memset(&c, 0x5a, sizeof(c));
	before = c;
	assert_int_equal(vmfs_conf_load(path, &c, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want), "cannot read %s: No such file or directory", path);
	assert_string_equal(err, want);
	assert_memory_equal(&c, &before, sizeof(c));
}

static void test_vmfs_conf_load_directory(void **state)
{
	char want[256], err[VMFS_CONF_ERR_MAX];
	struct vmfs_conf c;
	const char *tmpdir = *state;

	assert_int_equal(vmfs_conf_load(tmpdir, &c, err, sizeof(err)), -EISDIR);
	snprintf(want, sizeof(want), "cannot read %s: Is a directory", tmpdir);
	assert_string_equal(err, want);
}

static void test_vmfs_conf_load_unreadable(void **state)
{
	char path[128], want[256], err[VMFS_CONF_ERR_MAX];
	struct vmfs_conf c;
	const char *tmpdir = *state;

	if (geteuid() == 0)
		skip(); /* root reads a mode 000 file */
	snprintf(path, sizeof(path), "%s/vmfs.conf", tmpdir);
	write_file(path, DS);
	assert_int_equal(chmod(path, 0), 0);
	assert_int_equal(vmfs_conf_load(path, &c, err, sizeof(err)), -EACCES);
	snprintf(want, sizeof(want), "cannot read %s: Permission denied", path);
	assert_string_equal(err, want);
}

/* --- ipc name ------------------------------------------------------------------------- */

static void test_vmfs_conf_ipc_name(void **state)
{
	struct vmfs_conf c;
	char buf[32];

	(void)state;
	vmfs_conf_defaults(&c);
	assert_ptr_equal(vmfs_conf_ipc_name(&c, buf, sizeof(buf)), buf);
	assert_string_equal(buf, "vmfs-lockd");
	strcpy(c.run_dir, "/run/vmfs-b");
	assert_ptr_equal(vmfs_conf_ipc_name(&c, buf, sizeof(buf)), buf);
	assert_string_equal(buf, "vmfs-lockd-ae98f161");
	strcpy(c.run_dir, "a"); /* the FNV-1a 32-bit test vector: "a" -> e40c292c */
	assert_string_equal(vmfs_conf_ipc_name(&c, buf, sizeof(buf)), "vmfs-lockd-e40c292c");
	assert_null(vmfs_conf_ipc_name(&c, buf, 19));
	assert_non_null(vmfs_conf_ipc_name(&c, buf, 20));
}

static void test_vmfs_conf_ipc_name_of_parsed_run_dir(void **state)
{
	struct vmfs_conf c;
	char buf[32];

	(void)state;
	expect_accepted(DS "run_dir = /run/vmfs/\n", &c); /* the default, written differently */
	assert_string_equal(vmfs_conf_ipc_name(&c, buf, sizeof(buf)), "vmfs-lockd");
	expect_accepted(DS "run_dir = /run/vmfs2\n", &c);
	assert_string_equal(vmfs_conf_ipc_name(&c, buf, sizeof(buf)), "vmfs-lockd-9bd41134");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vmfs_conf_defaults),
		cmocka_unit_test(test_vmfs_conf_path_search_order),
		cmocka_unit_test(test_vmfs_conf_minimal_file_gets_defaults),
		cmocka_unit_test(test_vmfs_conf_every_key),
		cmocka_unit_test(test_vmfs_conf_blanks_comments_and_quotes),
		cmocka_unit_test(test_vmfs_conf_crlf_and_no_final_newline),
		cmocka_unit_test(test_vmfs_conf_text_need_not_be_nul_terminated),
		cmocka_unit_test(test_vmfs_conf_trailing_slashes_removed),
		cmocka_unit_test(test_vmfs_conf_utf8_accepted),
		cmocka_unit_test(test_vmfs_conf_log_levels),
		cmocka_unit_test(test_vmfs_conf_unknown_key),
		cmocka_unit_test(test_vmfs_conf_duplicate_key),
		cmocka_unit_test(test_vmfs_conf_missing_equals),
		cmocka_unit_test(test_vmfs_conf_empty_value),
		cmocka_unit_test(test_vmfs_conf_bad_quotes),
		cmocka_unit_test(test_vmfs_conf_line_too_long),
		cmocka_unit_test(test_vmfs_conf_nul_byte),
		cmocka_unit_test(test_vmfs_conf_control_characters),
		cmocka_unit_test(test_vmfs_conf_invalid_utf8),
		cmocka_unit_test(test_vmfs_conf_not_a_number),
		cmocka_unit_test(test_vmfs_conf_number_overflow),
		cmocka_unit_test(test_vmfs_conf_number_ranges),
		cmocka_unit_test(test_vmfs_conf_leading_zeros_are_decimal),
		cmocka_unit_test(test_vmfs_conf_bad_isolation),
		cmocka_unit_test(test_vmfs_conf_bad_log_level),
		cmocka_unit_test(test_vmfs_conf_relative_path),
		cmocka_unit_test(test_vmfs_conf_path_too_long),
		cmocka_unit_test(test_vmfs_conf_long_value_quoted_back_shortened),
		cmocka_unit_test(test_vmfs_conf_datastore_missing),
		cmocka_unit_test(test_vmfs_conf_timing_bound),
		cmocka_unit_test(test_vmfs_conf_first_error_wins),
		cmocka_unit_test(test_vmfs_conf_err_may_be_null),
		cmocka_unit_test(test_vmfs_conf_load_reads_the_file),
		cmocka_unit_test(test_vmfs_conf_load_names_the_file_in_parse_errors),
		cmocka_unit_test(test_vmfs_conf_load_missing_file),
		cmocka_unit_test(test_vmfs_conf_load_directory),
		cmocka_unit_test(test_vmfs_conf_load_unreadable),
		cmocka_unit_test(test_vmfs_conf_ipc_name),
		cmocka_unit_test(test_vmfs_conf_ipc_name_of_parsed_run_dir),
	};

	return cmocka_run_group_tests(tests, setup_tmpdir, teardown_tmpdir);
}
