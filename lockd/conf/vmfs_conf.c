// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmfs_conf.c - reading vmfs.conf(5). This is the edge where a configuration file
 * becomes a struct vmfs_conf or one line for an admin; the timing bounds themselves are
 * lk_timing.h's (lk_timing_check), what each value is for is the programs'.
 *
 * Every line is checked in a fixed order, the first failure ends the parse:
 *   1. length (at most CONF_LINE_MAX bytes, "\n" and a "\r" before it not counted)
 *   2. bytes: no NUL, valid UTF-8, no control character but tab (C0, DEL, C1)
 *   3. syntax: blank / comment / key = value, an optional double-quoted value
 *   4. key: known, not set before; value: not empty, then the key's own check
 * and after the last line: datastore present, the timing accepted by lk_timing_check.
 *
 * Sections: messages; keys; bytes; one line; parse; load; ipc name.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "lockd/conf/vmfs_conf.h"
#include "lockd/core/lk_timing.h"

#define CONF_LINE_MAX 4096u
#define CONF_PATH_MAX (4096u - 2u - 255u) /* + "/" + a NAME_MAX name + NUL = PATH_MAX */
#define CONF_FILE_MAX (1u << 20)           /* a larger file is not a configuration */
#define CONF_ECHO_MAX 64                   /* bytes of a bad key or value quoted back */
#define CONF_DEFAULT_RUN_DIR "/run/vmfs"
#define CONF_DEFAULT_MOUNTPOINT "/vmfs"
#define CONF_IPC_BASE "vmfs-lockd"

/* --- messages ----------------------------------------------------------------------- */

__attribute__((format(printf, 4, 5))) static int fail(char *err, size_t errlen, int rc,
						       const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return rc;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return rc;
}

/* How many bytes of s (len bytes) to quote back: at most CONF_ECHO_MAX, whole characters. */
static int echo_len(const char *s, size_t len)
{
	if (len <= CONF_ECHO_MAX)
		return (int)len;
	len = CONF_ECHO_MAX;
	while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
		len--;
	return (int)len;
}

/* --- keys --------------------------------------------------------------------------- */

enum conf_kind { KIND_PATH, KIND_MS, KIND_ISOLATION, KIND_LOG_LEVEL };

struct conf_key {
	const char *name;
	enum conf_kind kind;
	size_t offset; /* of the field in struct vmfs_conf */
	uint32_t min;  /* KIND_MS only */
	uint32_t max;
};

static const struct conf_key conf_keys[] = {
	{
		.name = "datastore",
		.kind = KIND_PATH,
		.offset = offsetof(struct vmfs_conf, datastore),
	},
	{
		.name = "run_dir",
		.kind = KIND_PATH,
		.offset = offsetof(struct vmfs_conf, run_dir),
	},
	{
		.name = "mountpoint",
		.kind = KIND_PATH,
		.offset = offsetof(struct vmfs_conf, mountpoint),
	},
	{
		.name = "hb_interval_ms",
		.kind = KIND_MS,
		.offset = offsetof(struct vmfs_conf, hb_interval_ms),
		.min = 100,
		.max = 60000,
	},
	{
		.name = "host_dead_ms",
		.kind = KIND_MS,
		.offset = offsetof(struct vmfs_conf, host_dead_ms),
		.min = 1000,
		.max = 600000,
	},
	{
		.name = "io_timeout_ms",
		.kind = KIND_MS,
		.offset = offsetof(struct vmfs_conf, io_timeout_ms),
		.min = 100,
		.max = 60000,
	},
	{
		.name = "handoff_timeout_ms",
		.kind = KIND_MS,
		.offset = offsetof(struct vmfs_conf, handoff_timeout_ms),
		.min = 1000,
		.max = 3600000,
	},
	{
		.name = "isolation",
		.kind = KIND_ISOLATION,
		.offset = offsetof(struct vmfs_conf, isolation),
	},
	{
		.name = "log_level",
		.kind = KIND_LOG_LEVEL,
		.offset = offsetof(struct vmfs_conf, log_level),
	},
};

#define CONF_NKEYS (sizeof(conf_keys) / sizeof(conf_keys[0]))

struct conf_word {
	const char *name;
	int value;
};

static const struct conf_word isolation_words[] = {
	{ .name = "keep", .value = VMFS_ISOLATION_KEEP },
	{ .name = "fence", .value = VMFS_ISOLATION_FENCE },
};

static const struct conf_word log_level_words[] = {
	{ .name = "error", .value = LOG_ERR },
	{ .name = "warning", .value = LOG_WARNING },
	{ .name = "notice", .value = LOG_NOTICE },
	{ .name = "info", .value = LOG_INFO },
	{ .name = "debug", .value = LOG_DEBUG },
};

static bool same(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && memcmp(s, word, len) == 0;
}

static const struct conf_key *find_key(const char *s, size_t len)
{
	for (size_t i = 0; i < CONF_NKEYS; i++)
		if (same(s, len, conf_keys[i].name))
			return &conf_keys[i];
	return NULL;
}

/* A parse in progress: where messages point, and which line set each key. */
struct conf_cursor {
	const char *name;
	unsigned line;
	unsigned set_on[CONF_NKEYS]; /* 0: not set */
	char *err;
	size_t errlen;
};

static int value_path(struct conf_cursor *cur, const struct conf_key *k, const char *v,
		      size_t len, char *field)
{
	if (v[0] != '/')
		return fail(cur->err, cur->errlen, -EINVAL, "%s:%u: %s: '%.*s' is not an absolute path",
			    cur->name, cur->line, k->name, echo_len(v, len), v);
	while (len > 1 && v[len - 1] == '/')
		len--;
	if (len > CONF_PATH_MAX)
		return fail(cur->err, cur->errlen, -EINVAL,
			    "%s:%u: %s: path too long (%zu bytes, at most %u)", cur->name,
			    cur->line, k->name, len, CONF_PATH_MAX);
	memcpy(field, v, len);
	field[len] = '\0';
	return 0;
}

static int value_ms(struct conf_cursor *cur, const struct conf_key *k, const char *v,
		    size_t len, uint32_t *field)
{
	uint64_t n = 0;

	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return fail(cur->err, cur->errlen, -EINVAL,
				    "%s:%u: %s: '%.*s' is not a number of milliseconds", cur->name,
				    cur->line, k->name, echo_len(v, len), v);
		if (n <= UINT32_MAX) /* past it the value is out of range anyway */
			n = n * 10 + (uint64_t)(v[i] - '0');
	}
	if (n < k->min || n > k->max)
		return fail(cur->err, cur->errlen, -EINVAL,
			    "%s:%u: %s: '%.*s' is out of range (%u..%u milliseconds)", cur->name,
			    cur->line, k->name, echo_len(v, len), v, k->min, k->max);
	*field = (uint32_t)n;
	return 0;
}

static int value_word(const struct conf_word *words, size_t nwords, const char *v, size_t len,
		      int *value)
{
	for (size_t i = 0; i < nwords; i++)
		if (same(v, len, words[i].name)) {
			*value = words[i].value;
			return 0;
		}
	return -EINVAL;
}

/* Stores the value of key k (len > 0 bytes at v) into c, or explains why not. */
static int set_value(struct conf_cursor *cur, const struct conf_key *k, const char *v,
		     size_t len, struct vmfs_conf *c)
{
	char *field = (char *)c + k->offset;
	int word;

	switch (k->kind) {
	case KIND_PATH:
		return value_path(cur, k, v, len, field);
	case KIND_MS:
		return value_ms(cur, k, v, len, (uint32_t *)(void *)field);
	case KIND_ISOLATION:
		if (value_word(isolation_words, sizeof(isolation_words) / sizeof(isolation_words[0]),
			       v, len, &word))
			return fail(cur->err, cur->errlen, -EINVAL,
				    "%s:%u: %s: '%.*s' is not keep or fence", cur->name, cur->line,
				    k->name, echo_len(v, len), v);
		c->isolation = (enum vmfs_isolation)word;
		return 0;
	case KIND_LOG_LEVEL:
		if (value_word(log_level_words, sizeof(log_level_words) / sizeof(log_level_words[0]),
			       v, len, &word))
			return fail(cur->err, cur->errlen, -EINVAL,
				    "%s:%u: %s: '%.*s' is not one of error, warning, notice, info, "
				    "debug",
				    cur->name, cur->line, k->name, echo_len(v, len), v);
		c->log_level = word;
		return 0;
	}
	return -EINVAL;
}

/* --- bytes -------------------------------------------------------------------------- */

/*
 * The length of the UTF-8 character at s (at most len bytes), 0 if it is not one: no
 * overlong form, no surrogate, nothing above U+10FFFF. *cp receives the code point.
 */
static size_t utf8_char(const unsigned char *s, size_t len, uint32_t *cp)
{
	size_t n;
	uint32_t c, min;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		c = s[0] & 0x1fu;
		min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		c = s[0] & 0x0fu;
		min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		c = s[0] & 0x07u;
		min = 0x10000;
	} else {
		return 0;
	}
	if (n > len)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3fu);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/* The key of a line that has one ([a-z0-9_]+ before "=", blanks around it), for messages. */
static size_t line_key(const char *s, size_t len, const char **key)
{
	size_t i = 0, start, end;

	while (i < len && (s[i] == ' ' || s[i] == '\t'))
		i++;
	start = i;
	while (i < len && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
			   s[i] == '_'))
		i++;
	end = i;
	while (i < len && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (end == start || i == len || s[i] != '=')
		return 0;
	*key = s + start;
	return end - start;
}

/* Refuses a NUL byte, invalid UTF-8 and control characters other than tab. */
static int check_bytes(struct conf_cursor *cur, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	const char *key = NULL;
	size_t keylen = line_key(s, len, &key);
	const char *sep = keylen ? ": " : "";
	uint32_t cp;
	size_t n;

	for (size_t i = 0; i < len; i += n) {
		n = utf8_char(u + i, len - i, &cp);
		if (n == 0)
			return fail(cur->err, cur->errlen, -EINVAL,
				    "%s:%u: %.*s%sinvalid UTF-8 at byte %zu", cur->name, cur->line,
				    (int)keylen, keylen ? key : "", sep, i + 1);
		if (cp == 0)
			return fail(cur->err, cur->errlen, -EINVAL,
				    "%s:%u: %.*s%sNUL byte at byte %zu", cur->name, cur->line,
				    (int)keylen, keylen ? key : "", sep, i + 1);
		if ((cp < 0x20 && cp != '\t') || (cp >= 0x7f && cp <= 0x9f))
			return fail(cur->err, cur->errlen, -EINVAL,
				    "%s:%u: %.*s%scontrol character U+%04X at byte %zu", cur->name,
				    cur->line, (int)keylen, keylen ? key : "", sep, (unsigned)cp,
				    i + 1);
	}
	return 0;
}

/* --- one line ----------------------------------------------------------------------- */

static bool blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* One line (len bytes, no "\n", no "\r" before it): applied to c, or an error. */
static int parse_line(struct conf_cursor *cur, const char *s, size_t len, struct vmfs_conf *c)
{
	const struct conf_key *k;
	size_t i = 0, eq, kend, vstart, vend;
	int rc;

	if (len > CONF_LINE_MAX)
		return fail(cur->err, cur->errlen, -EINVAL, "%s:%u: line longer than %u bytes",
			    cur->name, cur->line, CONF_LINE_MAX);
	rc = check_bytes(cur, s, len);
	if (rc)
		return rc;

	while (i < len && blank(s[i]))
		i++;
	if (i == len || s[i] == '#')
		return 0;

	/* The "=", unless a comment ("#" after a blank) or the line ends first. */
	for (eq = i; eq < len && s[eq] != '='; eq++)
		if (s[eq] == '#' && blank(s[eq - 1]))
			break;
	if (eq == len || s[eq] != '=') {
		size_t end = eq;

		while (end > i && blank(s[end - 1]))
			end--;
		return fail(cur->err, cur->errlen, -EINVAL,
			    "%s:%u: '%.*s': missing '=' (expected key = value)", cur->name,
			    cur->line, echo_len(s + i, end - i), s + i);
	}
	kend = eq;
	while (kend > i && blank(s[kend - 1]))
		kend--;
	if (kend == i)
		return fail(cur->err, cur->errlen, -EINVAL, "%s:%u: missing key before '='",
			    cur->name, cur->line);
	k = find_key(s + i, kend - i);
	if (!k)
		return fail(cur->err, cur->errlen, -EINVAL, "%s:%u: unknown key '%.*s'", cur->name,
			    cur->line, echo_len(s + i, kend - i), s + i);
	if (cur->set_on[k - conf_keys])
		return fail(cur->err, cur->errlen, -EINVAL,
			    "%s:%u: %s: duplicate key (already set on line %u)", cur->name,
			    cur->line, k->name, cur->set_on[k - conf_keys]);

	vstart = eq + 1;
	while (vstart < len && blank(s[vstart]))
		vstart++;
	if (vstart < len && s[vstart] == '"') {
		size_t rest;

		vstart++;
		for (vend = vstart; vend < len && s[vend] != '"'; vend++)
			;
		if (vend == len)
			return fail(cur->err, cur->errlen, -EINVAL,
				    "%s:%u: %s: missing the closing '\"'", cur->name, cur->line,
				    k->name);
		for (rest = vend + 1; rest < len && blank(s[rest]); rest++)
			;
		if (rest < len && s[rest] != '#')
			return fail(cur->err, cur->errlen, -EINVAL,
				    "%s:%u: %s: text after the closing '\"'", cur->name, cur->line,
				    k->name);
	} else {
		for (vend = vstart; vend < len; vend++)
			if (s[vend] == '#' && blank(s[vend - 1]))
				break;
		while (vend > vstart && blank(s[vend - 1]))
			vend--;
	}
	if (vend == vstart)
		return fail(cur->err, cur->errlen, -EINVAL, "%s:%u: %s: empty value", cur->name,
			    cur->line, k->name);
	rc = set_value(cur, k, s + vstart, vend - vstart, c);
	if (rc)
		return rc;
	cur->set_on[k - conf_keys] = cur->line;
	return 0;
}

/* --- parse -------------------------------------------------------------------------- */

void vmfs_conf_defaults(struct vmfs_conf *c)
{
	*c = (struct vmfs_conf){
		.run_dir = CONF_DEFAULT_RUN_DIR,
		.mountpoint = CONF_DEFAULT_MOUNTPOINT,
		.hb_interval_ms = LK_HB_INTERVAL_MS,
		.host_dead_ms = LK_HOST_DEAD_MS,
		.io_timeout_ms = LK_IO_TIMEOUT_MS,
		.handoff_timeout_ms = 30000,
		.isolation = VMFS_ISOLATION_KEEP,
		.log_level = LOG_INFO,
	};
}

const char *vmfs_conf_path(const char *explicit_path)
{
	const char *env;

	if (explicit_path)
		return explicit_path;
	env = getenv(VMFS_CONF_ENV);
	if (env && env[0])
		return env;
	return VMFS_CONF_DEFAULT_PATH;
}

/* After the last line: the datastore is required, the timing must keep a live host's lease. */
static int check_whole(struct conf_cursor *cur, const struct vmfs_conf *c)
{
	const struct lk_timing t = {
		.hb_interval_ms = c->hb_interval_ms,
		.host_dead_ms = c->host_dead_ms,
		.io_timeout_ms = c->io_timeout_ms,
	};
	const struct conf_key *hd = find_key("host_dead_ms", sizeof("host_dead_ms") - 1);
	unsigned line = cur->set_on[hd - conf_keys];
	char where[32] = "";
	const char *why;
	uint64_t need;

	if (!c->datastore[0])
		return fail(cur->err, cur->errlen, -EINVAL,
			    "%s: datastore: missing (the directory or device of the shared "
			    "datastore)",
			    cur->name);
	why = lk_timing_check(&t);
	if (!why)
		return 0;
	if (line)
		snprintf(where, sizeof(where), ":%u", line);
	need = 2ull * t.hb_interval_ms + 3ull * t.io_timeout_ms + lk_skew_ms(&t);
	if (t.host_dead_ms < need)
		return fail(cur->err, cur->errlen, -EINVAL,
			    "%s%s: host_dead_ms: %u is too short: it must be at least 2 * "
			    "hb_interval_ms + 3 * io_timeout_ms + skew = 2 * %u + 3 * %u + %u = "
			    "%llu",
			    cur->name, where, t.host_dead_ms, t.hb_interval_ms, t.io_timeout_ms,
			    lk_skew_ms(&t), (unsigned long long)need);
	return fail(cur->err, cur->errlen, -EINVAL, "%s%s: host_dead_ms: %s", cur->name, where,
		    why);
}

int vmfs_conf_parse(const char *text, size_t len, const char *name, struct vmfs_conf *out,
		    char *err, size_t errlen)
{
	struct conf_cursor cur = {
		.name = name ? name : "(config)",
		.err = err,
		.errlen = errlen,
	};
	struct vmfs_conf *c;
	size_t pos = 0;
	int rc;

	c = malloc(sizeof(*c)); /* 16 KiB: not on the caller's stack */
	if (!c)
		return fail(err, errlen, -ENOMEM, "%s: out of memory", cur.name);
	vmfs_conf_defaults(c);
	snprintf(c->path, sizeof(c->path), "%s", cur.name);

	while (pos < len) {
		const char *s = text + pos;
		const char *nl = memchr(s, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - s) : len - pos;

		pos += n + (nl ? 1 : 0);
		cur.line++;
		if (n > 0 && s[n - 1] == '\r') /* CRLF */
			n--;
		rc = parse_line(&cur, s, n, c);
		if (rc)
			goto out;
	}
	rc = check_whole(&cur, c);
	if (rc)
		goto out;
	*out = *c;
out:
	free(c);
	return rc;
}

/* --- load --------------------------------------------------------------------------- */

/* The whole file into a new buffer (*buf, *len), or -errno. */
static int read_all(const char *path, char **buf, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *b = NULL, *nb;
	ssize_t got;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		if (!b || n == cap) {
			if (b)
				cap *= 2;
			if (cap > CONF_FILE_MAX + 1)
				cap = CONF_FILE_MAX + 1;
			nb = realloc(b, cap);
			if (!nb) {
				rc = -ENOMEM;
				goto out_err;
			}
			b = nb;
		}
		got = read(fd, b + n, cap - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = -errno;
			goto out_err;
		}
		if (got == 0)
			break;
		n += (size_t)got;
		if (n > CONF_FILE_MAX) {
			rc = -EFBIG;
			goto out_err;
		}
	}
	close(fd);
	*buf = b;
	*len = n;
	return 0;
out_err:
	free(b);
	close(fd);
	return rc;
}

int vmfs_conf_load(const char *path, struct vmfs_conf *out, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	rc = read_all(path, &text, &len);
	if (rc)
		return fail(err, errlen, rc, "cannot read %s: %s", path, strerror(-rc));
	rc = vmfs_conf_parse(text, len, path, out, err, errlen);
	free(text);
	return rc;
}

/* --- ipc name ----------------------------------------------------------------------- */

const char *vmfs_conf_ipc_name(const struct vmfs_conf *c, char *buf, size_t len)
{
	uint32_t h = 2166136261u; /* FNV-1a, 32 bits */
	int n;

	if (strcmp(c->run_dir, CONF_DEFAULT_RUN_DIR) == 0) {
		n = snprintf(buf, len, "%s", CONF_IPC_BASE);
	} else {
		for (const unsigned char *p = (const unsigned char *)c->run_dir; *p; p++)
			h = (h ^ *p) * 16777619u;
		n = snprintf(buf, len, "%s-%08x", CONF_IPC_BASE, (unsigned)h);
	}
	return n < 0 || (size_t)n >= len ? NULL : buf;
}
