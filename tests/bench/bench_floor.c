/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench_floor.c - vmfs-bench-floor: the two floors under every lock acquire of vmfs-lockd,
 * measured on this host so that the lock benchmarks can print their figures as ratios
 * against them in the same run.
 *
 *   cpg  - one message multicast in agreed order on the corosync CPG group
 *          "vmfs-bench-floor", timed from cpg_mcast_joined() until its own delivery comes
 *          back through a poll() loop on cpg_fd_get() (the way lockd dispatches). Messages
 *          are sent one at a time. Other hosts may run the same group at the same moment:
 *          only this process's own messages (nodeid, pid and a per-run token) are counted.
 *   disk - one 4 KiB pwrite() at offset 0 of a file in DIR opened O_DIRECT|O_DSYNC, as
 *          lockd's sector I/O does (lockd/volume/vol_io_direct.c); where the file system
 *          refuses O_DSYNC, O_DIRECT followed by fdatasync(), timed together.
 *
 * Each run prints key=value lines (p50 and p99 in milliseconds, nearest rank over the
 * sorted samples, and the sample count; bench.h); nothing here judges a figure. The
 * first BENCH_WARMUP operations are not counted. Exit status: 0 measured, 1 failed (one line
 * on stderr saying why), 2 bad usage. It owns nothing but its CPG handle and its
 * scratch file, which it removes.
 *
 * Sections: the cpg floor; the disk floor; command line.
 */
#define _GNU_SOURCE /* O_DIRECT */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <corosync/cpg.h>

#include "tests/bench/bench.h"

#define FLOOR_PROG "vmfs-bench-floor"
#define FLOOR_GROUP "vmfs-bench-floor"
#define FLOOR_DEFAULT_COUNT 2000
#define FLOOR_MAX_COUNT 10000000UL
#define FLOOR_CPG_DEFAULT_SIZE 64
#define FLOOR_CPG_MAX_SIZE (1024 * 1024)
#define FLOOR_CPG_TIMEOUT_MS 10000 /* join, or one message's own delivery */
#define FLOOR_CPG_TIMEOUT_STR "10 s"
#define FLOOR_DISK_BLOCK 4096

/* Sorts the n > 0 samples in place and prints <prefix>_p50_ms, _p99_ms and _n. */
static void floor_print(const char *prefix, uint64_t *samples, size_t n)
{
	bench_print_pcts(prefix, samples, n);
	printf("%s_n=%zu\n", prefix, n);
}

/* --- the cpg floor ---------------------------------------------------------------- */

/*
 * What we multicast, padded with zeroes to the requested size. Only the sender ever
 * interprets it (after matching nodeid and pid), so host byte order is enough here.
 */
struct floor_msg {
	uint32_t fm_magic;
	uint32_t fm_pad;
	uint64_t fm_token; /* per run: a pid reused later on the same node never matches */
	uint64_t fm_seq;
};
#define FLOOR_MSG_MAGIC 0x464c4f52u /* "FLOR" */

struct floor_cpg {
	cpg_handle_t fc_handle;
	int fc_fd;
	uint32_t fc_nodeid;
	uint32_t fc_pid;
	uint64_t fc_token;
	bool fc_joined;   /* our own join seen in a configuration change */
	bool fc_left;     /* we were listed as having left the group */
	uint64_t fc_want; /* seq of the message in flight */
	bool fc_got;      /* fc_want delivered back to us */
	uint64_t fc_foreign; /* messages of other senders in the group, ignored */
};

static const char *floor_cs_name(cs_error_t rc)
{
	switch (rc) {
	case CS_OK: return "CS_OK";
	case CS_ERR_LIBRARY: return "CS_ERR_LIBRARY";
	case CS_ERR_TIMEOUT: return "CS_ERR_TIMEOUT";
	case CS_ERR_TRY_AGAIN: return "CS_ERR_TRY_AGAIN";
	case CS_ERR_INVALID_PARAM: return "CS_ERR_INVALID_PARAM";
	case CS_ERR_BAD_HANDLE: return "CS_ERR_BAD_HANDLE";
	case CS_ERR_ACCESS: return "CS_ERR_ACCESS";
	case CS_ERR_NOT_EXIST: return "CS_ERR_NOT_EXIST";
	case CS_ERR_EXIST: return "CS_ERR_EXIST";
	case CS_ERR_TOO_BIG: return "CS_ERR_TOO_BIG";
	default: return "cs_error";
	}
}

static void floor_cs_fail(const char *what, cs_error_t rc)
{
	fprintf(stderr, FLOOR_PROG ": cpg: %s: %s (%d)%s\n", what, floor_cs_name(rc), (int)rc,
		rc == CS_ERR_LIBRARY ? ": is corosync running in this network namespace?" : "");
}

static struct floor_cpg *floor_cpg_of(cpg_handle_t handle)
{
	void *ctx = NULL;

	cpg_context_get(handle, &ctx);
	return ctx;
}

static void floor_deliver(cpg_handle_t handle, const struct cpg_name *group, uint32_t nodeid,
			  uint32_t pid, void *msg, size_t len)
{
	struct floor_cpg *fc = floor_cpg_of(handle);
	struct floor_msg m;

	(void)group;
	if (!fc)
		return;
	if (nodeid != fc->fc_nodeid || pid != fc->fc_pid || len < sizeof(m)) {
		fc->fc_foreign++;
		return;
	}
	memcpy(&m, msg, sizeof(m));
	if (m.fm_magic != FLOOR_MSG_MAGIC || m.fm_token != fc->fc_token) {
		fc->fc_foreign++;
		return;
	}
	if (m.fm_seq == fc->fc_want)
		fc->fc_got = true;
}

static bool floor_is_us(const struct floor_cpg *fc, const struct cpg_address *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i].nodeid == fc->fc_nodeid && a[i].pid == fc->fc_pid)
			return true;
	return false;
}

static void floor_confchg(cpg_handle_t handle, const struct cpg_name *group,
			  const struct cpg_address *members, size_t n_members,
			  const struct cpg_address *left, size_t n_left,
			  const struct cpg_address *joined, size_t n_joined)
{
	struct floor_cpg *fc = floor_cpg_of(handle);

	(void)group;
	if (!fc)
		return;
	if (floor_is_us(fc, joined, n_joined) || floor_is_us(fc, members, n_members))
		fc->fc_joined = true;
	if (floor_is_us(fc, left, n_left))
		fc->fc_left = true;
}

/*
 * Dispatches until *flag is set or deadline_ns passes. Returns 0, -ETIMEDOUT, -ENOTCONN
 * when corosync went away or dropped us from the group, or -EIO when dispatch failed.
 */
static int floor_cpg_wait(struct floor_cpg *fc, const bool *flag, uint64_t deadline_ns)
{
	while (!*flag) {
		struct pollfd pfd = { .fd = fc->fc_fd, .events = POLLIN };
		uint64_t now = bench_now_ns();
		cs_error_t rc;
		int n;

		if (fc->fc_left)
			return -ENOTCONN;
		if (now >= deadline_ns)
			return -ETIMEDOUT;
		n = poll(&pfd, 1, (int)((deadline_ns - now + 999999) / 1000000));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			continue;
		if ((pfd.revents & (POLLHUP | POLLERR)) && !(pfd.revents & POLLIN))
			return -ENOTCONN;
		rc = cpg_dispatch(fc->fc_handle, CS_DISPATCH_ALL);
		if (rc == CS_ERR_LIBRARY || rc == CS_ERR_BAD_HANDLE)
			return -ENOTCONN;
		if (rc != CS_OK && rc != CS_ERR_TRY_AGAIN)
			return -EIO;
	}
	return 0;
}

static const char *floor_wait_err(int rc)
{
	switch (rc) {
	case -ETIMEDOUT: return "timed out after " FLOOR_CPG_TIMEOUT_STR;
	case -ENOTCONN: return "lost corosync (or left the group)";
	case -EIO: return "cpg_dispatch failed";
	default: return strerror(-rc);
	}
}

/* Sends message seq and waits for its own delivery; *elapsed_ns covers any retries. */
static int floor_cpg_round(struct floor_cpg *fc, void *buf, size_t size, uint64_t seq,
			   uint64_t *elapsed_ns, unsigned long *retries)
{
	struct floor_msg m = {
		.fm_magic = FLOOR_MSG_MAGIC,
		.fm_token = fc->fc_token,
		.fm_seq = seq,
	};
	struct iovec iov = { .iov_base = buf, .iov_len = size };
	uint64_t t0, deadline;
	cs_error_t rc;
	int err;

	memcpy(buf, &m, sizeof(m));
	fc->fc_want = seq;
	fc->fc_got = false;
	t0 = bench_now_ns();
	deadline = t0 + (uint64_t)FLOOR_CPG_TIMEOUT_MS * 1000000u;
	for (;;) {
		rc = cpg_mcast_joined(fc->fc_handle, CPG_TYPE_AGREED, &iov, 1);
		if (rc != CS_ERR_TRY_AGAIN || bench_now_ns() >= deadline)
			break;
		/* Flow control: let corosync drain what it holds, then try again. */
		(*retries)++;
		cpg_dispatch(fc->fc_handle, CS_DISPATCH_ALL);
		nanosleep(&(struct timespec){ .tv_nsec = 100000 }, NULL);
	}
	if (rc != CS_OK) {
		floor_cs_fail("cpg_mcast_joined", rc);
		return -EIO;
	}
	err = floor_cpg_wait(fc, &fc->fc_got, deadline);
	if (err) {
		fprintf(stderr, FLOOR_PROG ": cpg: own message %" PRIu64 " not delivered: %s\n",
			seq, floor_wait_err(err));
		return err;
	}
	*elapsed_ns = bench_now_ns() - t0;
	return 0;
}

static int floor_run_cpg(unsigned long count, size_t size)
{
	cpg_callbacks_t cb = {
		.cpg_deliver_fn = floor_deliver,
		.cpg_confchg_fn = floor_confchg,
	};
	struct cpg_name group;
	struct floor_cpg fc = { .fc_fd = -1 };
	uint64_t *samples = NULL;
	unsigned long retries = 0;
	void *buf = NULL;
	bool joined = false;
	cs_error_t rc;
	int ret = 1, err;

	samples = calloc(count, sizeof(*samples));
	buf = calloc(1, size);
	if (!samples || !buf) {
		fprintf(stderr, FLOOR_PROG ": cpg: out of memory\n");
		goto out_free;
	}
	rc = cpg_initialize(&fc.fc_handle, &cb);
	if (rc != CS_OK) {
		floor_cs_fail("cpg_initialize", rc);
		goto out_free;
	}
	cpg_context_set(fc.fc_handle, &fc);
	rc = cpg_fd_get(fc.fc_handle, &fc.fc_fd);
	if (rc == CS_OK)
		rc = cpg_local_get(fc.fc_handle, &fc.fc_nodeid);
	if (rc != CS_OK) {
		floor_cs_fail("cpg_fd_get/cpg_local_get", rc);
		goto out_finalize;
	}
	fc.fc_pid = (uint32_t)getpid();
	fc.fc_token = bench_now_ns() ^ ((uint64_t)fc.fc_pid << 32);

	memset(&group, 0, sizeof(group));
	group.length = sizeof(FLOOR_GROUP) - 1;
	memcpy(group.value, FLOOR_GROUP, group.length);
	rc = cpg_join(fc.fc_handle, &group);
	if (rc != CS_OK) {
		floor_cs_fail("cpg_join " FLOOR_GROUP, rc);
		goto out_finalize;
	}
	joined = true;
	err = floor_cpg_wait(&fc, &fc.fc_joined,
			     bench_now_ns() + (uint64_t)FLOOR_CPG_TIMEOUT_MS * 1000000u);
	if (err) {
		fprintf(stderr, FLOOR_PROG ": cpg: own join of " FLOOR_GROUP " not seen: %s\n",
			floor_wait_err(err));
		goto out_leave;
	}

	for (unsigned long i = 0; i < BENCH_WARMUP + count; i++) {
		uint64_t ns;

		if (floor_cpg_round(&fc, buf, size, i, &ns, &retries))
			goto out_leave;
		if (i >= BENCH_WARMUP)
			samples[i - BENCH_WARMUP] = ns;
	}
	floor_print("cpg_rtt", samples, count);
	if (retries)
		fprintf(stderr, FLOOR_PROG ": cpg: %lu sends met flow control (CS_ERR_TRY_AGAIN); "
			"their wait is in the figures\n", retries);
	ret = 0;
out_leave:
	if (joined)
		cpg_leave(fc.fc_handle, &group);
out_finalize:
	cpg_finalize(fc.fc_handle);
out_free:
	free(buf);
	free(samples);
	return ret;
}

/* --- the disk floor --------------------------------------------------------------- */

/*
 * Opens path O_DIRECT, with O_DSYNC when the file system takes it. Returns the fd, with
 * *dsync telling which, or -errno of the O_DIRECT open when even that is refused.
 */
static int floor_open_direct(const char *path, bool *dsync)
{
	int flags = O_RDWR | O_DIRECT | O_CLOEXEC;
	int fd;

	*dsync = true;
	fd = open(path, flags | O_DSYNC);
	if (fd >= 0 || errno != EINVAL)
		return fd < 0 ? -errno : fd;
	*dsync = false;
	fd = open(path, flags);
	return fd < 0 ? -errno : fd;
}

static int floor_run_disk(const char *dir, unsigned long count)
{
	char path[PATH_MAX];
	uint64_t *samples = NULL;
	void *buf = NULL;
	struct stat st;
	bool dsync = false, created = false;
	int fd = -1, ret = 1, n;

	if (stat(dir, &st) < 0) {
		fprintf(stderr, FLOOR_PROG ": disk: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, FLOOR_PROG ": disk: %s: not a directory\n", dir);
		return 1;
	}
	n = snprintf(path, sizeof(path), "%s/.vmfs-bench-floor.%ld", dir, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(path)) {
		fprintf(stderr, FLOOR_PROG ": disk: %s: path too long\n", dir);
		return 1;
	}
	samples = calloc(count, sizeof(*samples));
	if (!samples || posix_memalign(&buf, FLOOR_DISK_BLOCK, FLOOR_DISK_BLOCK) != 0) {
		fprintf(stderr, FLOOR_PROG ": disk: out of memory\n");
		goto out;
	}
	memset(buf, 0, FLOOR_DISK_BLOCK);

	/* Created apart from the O_DIRECT open: a refused O_DIRECT may still create it. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, FLOOR_PROG ": disk: cannot create %s: %s\n", path, strerror(errno));
		goto out;
	}
	created = true;
	close(fd);
	fd = floor_open_direct(path, &dsync);
	if (fd == -EINVAL) {
		fprintf(stderr, FLOOR_PROG ": disk: O_DIRECT not supported by the file system of "
			"%s\n", dir);
		goto out;
	}
	if (fd < 0) {
		fprintf(stderr, FLOOR_PROG ": disk: open %s O_DIRECT: %s\n", path, strerror(-fd));
		goto out;
	}

	for (unsigned long i = 0; i < BENCH_WARMUP + count; i++) {
		uint64_t seq = i, t0 = bench_now_ns();
		ssize_t w;

		memcpy(buf, &seq, sizeof(seq)); /* every write carries new bytes */
		do
			w = pwrite(fd, buf, FLOOR_DISK_BLOCK, 0);
		while (w < 0 && errno == EINTR);
		if (w < 0 && errno == EINVAL && i == 0) {
			fprintf(stderr, FLOOR_PROG ": disk: O_DIRECT write of %d bytes refused in "
				"%s (block size larger than %d?)\n", FLOOR_DISK_BLOCK, dir,
				FLOOR_DISK_BLOCK);
			goto out;
		}
		if (w != FLOOR_DISK_BLOCK) {
			fprintf(stderr, FLOOR_PROG ": disk: pwrite %s: %s\n", path,
				w < 0 ? strerror(errno) : "short write");
			goto out;
		}
		if (!dsync && fdatasync(fd) < 0) {
			fprintf(stderr, FLOOR_PROG ": disk: fdatasync %s: %s\n", path,
				strerror(errno));
			goto out;
		}
		if (i >= BENCH_WARMUP)
			samples[i - BENCH_WARMUP] = bench_now_ns() - t0;
	}
	floor_print("disk_write", samples, count);
	printf("disk_sync=%s\n", dsync ? "odsync" : "fdatasync");
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	if (created)
		unlink(path);
	free(buf);
	free(samples);
	return ret;
}

/* --- command line ----------------------------------------------------------------- */

static void floor_usage(FILE *f)
{
	fprintf(f,
		"usage: " FLOOR_PROG " cpg [--count N] [--size B]\n"
		"       " FLOOR_PROG " disk DIR [--count N]\n"
		"  cpg   agreed multicast on CPG group " FLOOR_GROUP ", send to own delivery\n"
		"        (N default %d, B bytes default %d, %zu..%d)\n"
		"  disk  4 KiB O_DIRECT|O_DSYNC pwrite at offset 0 of a scratch file in DIR\n"
		"        (N default %d)\n"
		"prints key=value lines: <floor>_p50_ms, <floor>_p99_ms, <floor>_n\n",
		FLOOR_DEFAULT_COUNT, FLOOR_CPG_DEFAULT_SIZE, sizeof(struct floor_msg),
		FLOOR_CPG_MAX_SIZE, FLOOR_DEFAULT_COUNT);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "count", required_argument, NULL, 'c' },
		{ "size", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long count = FLOOR_DEFAULT_COUNT, size = FLOOR_CPG_DEFAULT_SIZE;
	bool is_cpg, size_set = false;
	const char *mode;
	int opt;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		floor_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	mode = argv[1];
	if (strcmp(mode, "cpg") && strcmp(mode, "disk")) {
		fprintf(stderr, FLOOR_PROG ": unknown floor '%s' (cpg or disk)\n", mode);
		return 2;
	}
	is_cpg = !strcmp(mode, "cpg");
	/* Options follow the floor's name: parse argv[1..] with argv[1] as "program". */
	argc--;
	argv++;
	while ((opt = getopt_long(argc, argv, "c:s:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			if (!bench_parse_opt(FLOOR_PROG, "--count", optarg, 1, FLOOR_MAX_COUNT,
					     &count))
				return 2;
			break;
		case 's':
			if (!bench_parse_opt(FLOOR_PROG, "--size", optarg, sizeof(struct floor_msg),
					     FLOOR_CPG_MAX_SIZE, &size))
				return 2;
			size_set = true;
			break;
		case 'h':
			floor_usage(stdout);
			return 0;
		default:
			floor_usage(stderr);
			return 2;
		}
	}
	if (is_cpg) {
		if (optind != argc) {
			fprintf(stderr, FLOOR_PROG ": cpg takes no argument ('%s')\n", argv[optind]);
			return 2;
		}
		return floor_run_cpg(count, size);
	}
	if (size_set) {
		fprintf(stderr, FLOOR_PROG ": --size is for cpg; disk writes are %d bytes\n",
			FLOOR_DISK_BLOCK);
		return 2;
	}
	if (optind + 1 != argc) {
		fprintf(stderr, FLOOR_PROG ": disk wants one DIR\n");
		return 2;
	}
	return floor_run_disk(argv[optind], count);
}
