/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vf_probe.c - writers and a checker for the vmfsd cluster tests.
 *
 *   vf_probe write FILE HOST [INTERVAL_MS]
 *       opens FILE for appending (through /vmfs: takes the host's EX lock), prints
 *       "open gen=E:C", then appends one record every INTERVAL_MS (default 10) until a write
 *       fails; prints "write failed: ERRNO-NAME after N records at T" (T: CLOCK_REALTIME
 *       ms) and exits 1. Exits 2 when the open fails ("open failed: ERRNO-NAME").
 *   vf_probe arrive FILE HOST [INTERVAL_MS]
 *       the destination of a handoff: opens FILE (arriving by handoff), prints "open", then
 *       fsync(2)s it, which waits for the commit (or fails: "write failed: EIO after 0
 *       records" after an abort), prints "committed after MS ms" and goes on as write,
 *       with the generation this host got.
 *   vf_probe claim FILE HOST SECONDS [HOLDFLAG]
 *       for SECONDS: tries to open FILE for appending; when it gets it, appends records for a
 *       random 50-500 ms (every 2-10 ms), closes, sleeps a random 0-200 ms; a refused
 *       open (EBUSY, ENOLCK) is retried after 20 ms; a failed write (EIO: fenced) ends
 *       the hold. While the file HOLDFLAG exists a hold goes on until a write fails (so a
 *       test can strike it); such a hold prints "flagged hold, generation E:C" first. Prints "holds=N records=N refused=N eio=N".
 *   vf_probe check FILE
 *       proves the single-writer property of FILE's records: consecutive records of one
 *       (host, generation) form a hold; holds never interleave (a hold never resumes once
 *       another began), generations only grow from hold to hold, and sequence numbers grow
 *       within a host. Prints "records=N holds=N hosts=N" (exit 0) or one line per
 *       violation (exit 1).
 *
 * A record is one 64-byte line "h=HOST g=EPOCH:COUNTER s=SEQ\n", written by one write(2),
 * so records never tear; the generation is the one user.vmfs.lock gives for the holder.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define REC 64

struct rec {
	unsigned host;
	uint32_t epoch;
	uint64_t counter, seq;
};

static int64_t now_ms(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* The generation of this host's hold of the file open as fd, from user.vmfs.lock. */
static int gen_of(int fd, unsigned host, uint32_t *epoch, uint64_t *counter)
{
	char val[4096], want[32];
	ssize_t n = fgetxattr(fd, "user.vmfs.lock", val, sizeof(val) - 1);
	const char *p;

	if (n < 0)
		return -errno;
	val[n] = '\0';
	snprintf(want, sizeof(want), "host=%u ", host);
	p = strstr(val, want);
	p = p ? strstr(p, "generation=") : NULL;
	if (!p || sscanf(p, "generation=%" SCNu32 ":%" SCNu64, epoch, counter) != 2)
		return -ENOENT;
	return 0;
}

static int put_rec(int fd, const struct rec *r)
{
	char line[REC + 1];
	int w = snprintf(line, sizeof(line), "h=%u g=%" PRIu32 ":%" PRIu64 " s=%" PRIu64,
			 r->host, r->epoch, r->counter, r->seq);

	memset(line + w, ' ', REC - 1 - (size_t)w);
	line[REC - 1] = '\n';
	return write(fd, line, REC) == REC ? 0 : -errno;
}

static int open_append(const char *file)
{
	return open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

static int cmd_write(const char *file, unsigned host, long interval, bool arrive)
{
	struct rec r = { .host = host };
	int fd = open_append(file), rc;
	int64_t t0;

	if (fd < 0) {
		printf("open failed: %s\n", strerrorname_np(errno));
		return 2;
	}
	if (arrive) {
		printf("open\n");
		fflush(stdout);
		t0 = now_ms(CLOCK_MONOTONIC);
		if (fsync(fd) < 0) {
			printf("write failed: %s after 0 records at %" PRId64 "\n",
			       strerrorname_np(errno), now_ms(CLOCK_REALTIME));
			return 1;
		}
		printf("committed after %" PRId64 " ms\n", now_ms(CLOCK_MONOTONIC) - t0);
	}
	rc = gen_of(fd, host, &r.epoch, &r.counter);
	if (rc) {
		printf("open failed: no generation for host %u: %s\n", host, strerror(-rc));
		return 2;
	}
	printf("open gen=%" PRIu32 ":%" PRIu64 "\n", r.epoch, r.counter);
	fflush(stdout);
	for (;;) {
		rc = put_rec(fd, &r);
		if (rc) {
			printf("write failed: %s after %" PRIu64 " records at %" PRId64 "\n",
			       strerrorname_np(-rc), r.seq, now_ms(CLOCK_REALTIME));
			return 1;
		}
		r.seq++;
		sleep_ms(interval);
	}
}

static int cmd_claim(const char *file, unsigned host, long seconds, const char *flag)
{
	int64_t end = now_ms(CLOCK_MONOTONIC) + seconds * 1000;
	unsigned long holds = 0, records = 0, refused = 0, eio = 0;
	struct rec r = { .host = host };
	bool flagged;

	srandom((unsigned)(getpid() ^ now_ms(CLOCK_REALTIME)));
	while (now_ms(CLOCK_MONOTONIC) < end) {
		int fd = open_append(file);
		int64_t until;

		if (fd < 0) {
			if (errno != EBUSY && errno != ENOLCK && errno != EIO) {
				printf("open failed: %s\n", strerrorname_np(errno));
				return 2;
			}
			refused++;
			sleep_ms(20);
			continue;
		}
		if (gen_of(fd, host, &r.epoch, &r.counter) < 0) {
			close(fd); /* fenced between open and the query */
			refused++;
			continue;
		}
		holds++;
		until = now_ms(CLOCK_MONOTONIC) + 50 + random() % 450;
		flagged = false;
		while (now_ms(CLOCK_MONOTONIC) < until || (flag && access(flag, F_OK) == 0)) {
			if (!flagged && flag && access(flag, F_OK) == 0) {
				/* this hold lasts until a write fails: the test may strike now */
				flagged = true;
				printf("flagged hold, generation %" PRIu32 ":%" PRIu64 "\n", r.epoch,
				       r.counter);
				fflush(stdout);
			}
			if (put_rec(fd, &r) < 0) {
				eio++;
				break;
			}
			r.seq++;
			records++;
			sleep_ms(2 + random() % 9);
		}
		close(fd);
		sleep_ms(random() % 200);
	}
	printf("holds=%lu records=%lu refused=%lu eio=%lu\n", holds, records, refused, eio);
	return 0;
}

#define MAX_HOSTS 64
#define MAX_HOLDS 100000

static int cmd_check(const char *file)
{
	FILE *f = fopen(file, "r");
	char line[256];
	struct rec cur = { 0 }, r;
	static struct rec done[MAX_HOLDS]; /* finished holds */
	uint64_t last_seq[MAX_HOSTS] = { 0 };
	bool seen[MAX_HOSTS] = { false };
	unsigned long n = 0, holds = 0, bad = 0, hosts = 0;

	if (!f) {
		printf("cannot open %s: %s\n", file, strerror(errno));
		return 1;
	}
	while (fgets(line, sizeof(line), f)) {
		n++;
		if (sscanf(line, "h=%u g=%" SCNu32 ":%" SCNu64 " s=%" SCNu64, &r.host, &r.epoch,
			   &r.counter, &r.seq) != 4 || r.host == 0 || r.host >= MAX_HOSTS) {
			printf("record %lu is malformed: %.64s\n", n, line);
			bad++;
			continue;
		}
		if (seen[r.host] && r.seq <= last_seq[r.host]) {
			printf("record %lu: host %u's sequence went from %" PRIu64 " to %" PRIu64
			       "\n", n, r.host, last_seq[r.host], r.seq);
			bad++;
		}
		if (!seen[r.host])
			hosts++;
		seen[r.host] = true;
		last_seq[r.host] = r.seq;
		if (holds && r.host == cur.host && r.epoch == cur.epoch && r.counter == cur.counter)
			continue;
		/* a new hold: it must not resume an earlier one, and its generation grows */
		for (unsigned long k = 0; k + 1 < holds && k < MAX_HOLDS; k++)
			if (done[k].host == r.host && done[k].epoch == r.epoch &&
			    done[k].counter == r.counter) {
				printf("record %lu: host %u's hold under generation %" PRIu32 ":%" PRIu64
				       " resumes after another host wrote (interleaving)\n", n, r.host,
				       r.epoch, r.counter);
				bad++;
				break;
			}
		if (holds && (r.epoch < cur.epoch || (r.epoch == cur.epoch && r.counter <= cur.counter))) {
			printf("record %lu: generation %" PRIu32 ":%" PRIu64 " (host %u) follows "
			       "%" PRIu32 ":%" PRIu64 " (host %u): generations must grow\n", n,
			       r.epoch, r.counter, r.host, cur.epoch, cur.counter, cur.host);
			bad++;
		}
		if (holds < MAX_HOLDS)
			done[holds] = r;
		holds++;
		cur = r;
	}
	fclose(f);
	if (bad)
		return 1;
	printf("records=%lu holds=%lu hosts=%lu\n", n, holds, hosts);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 4 && strcmp(argv[1], "write") == 0)
		return cmd_write(argv[2], (unsigned)atoi(argv[3]), argc > 4 ? atol(argv[4]) : 10,
				 false);
	if (argc >= 4 && strcmp(argv[1], "arrive") == 0)
		return cmd_write(argv[2], (unsigned)atoi(argv[3]), argc > 4 ? atol(argv[4]) : 10,
				 true);
	if ((argc == 5 || argc == 6) && strcmp(argv[1], "claim") == 0)
		return cmd_claim(argv[2], (unsigned)atoi(argv[3]), atol(argv[4]),
				 argc == 6 ? argv[5] : NULL);
	if (argc == 3 && strcmp(argv[1], "check") == 0)
		return cmd_check(argv[2]);
	fprintf(stderr, "usage: vf_probe write|arrive FILE HOST [INTERVAL_MS] | claim FILE HOST SECONDS"
		" [HOLDFLAG] | check FILE\n");
	return 64;
}
