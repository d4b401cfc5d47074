/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ipc_abuse.c - a misbehaving libqb client of vmfs-lockd, for check-lockd-ipc.sh.
 *
 * Usage: ipc_abuse [-n SERVICE] CASE [PATH]
 *
 * Connects to SERVICE (default "vmfs-lockd", the name of the default run_dir /run/vmfs),
 * first checks that the connection works (a well-formed status request is answered),
 * then breaks the protocol of lki_proto.h in one way (CASE), then asks for status again
 * on the same connection. The daemon must have dropped the connection: that second
 * request must fail (-ENOTCONN or another error), not be answered.
 *
 * Cases:
 *   notjson      a body that is not JSON
 *   noop         a JSON object without "op"
 *   unknownop    {"op":"frobnicate","seq":2}
 *   badid        a well-formed status request whose header id is 7, not 1
 *   sizebig      header size 100 bytes larger than the bytes sent
 *   huge         a request of 64 KiB of JSON (the limit is 4096 bytes)
 *   twice PATH   two acquires of PATH (ex, wait_ms 5000) sent back to back, without
 *                waiting for the first one's answer; PATH should be held elsewhere so
 *                that the first one waits
 *   holdjunk PATH  acquire PATH (must be granted), then send a non-JSON body: the
 *                dropped connection's lock must be released (checked by the caller)
 *   nodrain PATH   not an abuse: acquire PATH and hold it for 60 s without subscribing to
 *                drains, as a client that cannot stop its writes for a handoff does
 *                (check-handoff-basic); prints "holding PATH", exits 0
 *
 * Prints one line per step to stdout. Exit status: 0 the connection was dropped (as it
 * must be: the abusive request and the one after it both fail with a hang-up), 1 the
 * daemon answered the abusive request or the next one, or did not hang up in time,
 * 2 the test itself could not run (no daemon, the first well-formed request failed, bad
 * usage).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <qb/qbipcc.h>

#define REQ_ID 1            /* LKI_REQUEST */
#define MAX_MSG (1024 * 1024)
#define TIMEOUT_MS 5000

static char rbuf[MAX_MSG];
static int seq;
static struct timespec t0;

/* Milliseconds since the start, for the log. */
static long ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
}

/* Waits up to timeout ms for a response, in slices, so that a dropped connection is seen
 * at once (libqb checks the connection after each slice). Bytes or -errno. */
static ssize_t recv_wait(qb_ipcc_connection_t *c, int timeout)
{
	long end = ms() + timeout;
	ssize_t n;

	do {
		n = qb_ipcc_recv(c, rbuf, sizeof(rbuf), 100);
	} while ((n == -ETIMEDOUT || n == -EAGAIN) && ms() < end);
	return n;
}

/* Sends hdr (id, size as given) + body; waits for one response. Returns bytes or -errno. */
static ssize_t call_raw(qb_ipcc_connection_t *c, int32_t id, int32_t size, const void *body,
			size_t len, int timeout)
{
	struct qb_ipc_request_header hdr = { .id = id, .size = size };
	struct iovec iov[2] = { { &hdr, sizeof(hdr) }, { (void *)body, len } };
	ssize_t n = qb_ipcc_sendv(c, iov, 2);

	return n < 0 ? n : recv_wait(c, timeout);
}

static ssize_t call_json(qb_ipcc_connection_t *c, const char *json, int timeout)
{
	size_t len = strlen(json);

	return call_raw(c, REQ_ID, (int32_t)(sizeof(struct qb_ipc_request_header) + len), json,
			len, timeout);
}

static void show(const char *what, ssize_t n)
{
	if (n < 0) {
		printf("[%4ld ms] %s: failed: %s (%zd)\n", ms(), what, strerror((int)-n), n);
	} else if ((size_t)n >= sizeof(struct qb_ipc_response_header)) {
		const struct qb_ipc_response_header *rh = (const void *)rbuf;
		int blen = (int)((size_t)n - sizeof(*rh));

		printf("[%4ld ms] %s: answered: id %d, size %d, error %d, body %.*s\n", ms(), what,
		       rh->id, rh->size, rh->error, blen > 200 ? 200 : blen, rbuf + sizeof(*rh));
	} else {
		printf("[%4ld ms] %s: short answer of %zd bytes\n", ms(), what, n);
	}
	fflush(stdout);
}

/* A well-formed status request on c: bytes of the answer or -errno. */
static ssize_t status(qb_ipcc_connection_t *c, int timeout)
{
	char json[64];

	snprintf(json, sizeof(json), "{\"op\":\"status\",\"seq\":%d}", ++seq);
	return call_json(c, json, timeout);
}

static int resp_error(ssize_t n)
{
	if (n < (ssize_t)sizeof(struct qb_ipc_response_header))
		return n < 0 ? (int)n : -EPROTO;
	return ((const struct qb_ipc_response_header *)rbuf)->error;
}

/* A call's result that says the daemon hung up on us. */
static int gone(ssize_t n)
{
	return n == -ENOTCONN || n == -ESHUTDOWN || n == -ECONNRESET || n == -EPIPE;
}

/* Acquires path (ex, no wait) and says so; -1 (disconnected) when not granted. */
static int hold(qb_ipcc_connection_t *c, const char *path)
{
	char json[4096];
	ssize_t n;

	snprintf(json, sizeof(json), "{\"op\":\"acquire\",\"seq\":%d,\"path\":\"%s\","
		 "\"mode\":\"ex\",\"wait_ms\":0}", ++seq, path);
	n = call_json(c, json, TIMEOUT_MS);
	show("acquire", n);
	if (resp_error(n) != 0) {
		qb_ipcc_disconnect(c);
		return -1;
	}
	printf("holding %s\n", path);
	fflush(stdout);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: ipc_abuse [-n SERVICE] notjson|noop|unknownop|badid|sizebig|"
		"huge|twice PATH|holdjunk PATH|nodrain PATH\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *service = "vmfs-lockd", *kase, *path = NULL;
	struct qb_ipc_request_header hdr;
	qb_ipcc_connection_t *c;
	char json[4096];
	ssize_t n, abused;
	int opt;

	while ((opt = getopt(argc, argv, "n:")) != -1) {
		if (opt != 'n')
			return usage();
		service = optarg;
	}
	if (optind >= argc)
		return usage();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	kase = argv[optind];
	printf("ipc_abuse pid %d, service %s\n", (int)getpid(), service);
	if (strcmp(kase, "twice") == 0 || strcmp(kase, "holdjunk") == 0 ||
	    strcmp(kase, "nodrain") == 0) {
		if (optind + 1 >= argc)
			return usage();
		path = argv[optind + 1];
	}

	c = qb_ipcc_connect(service, MAX_MSG);
	if (!c) {
		printf("connect to %s: %s\n", service, strerror(errno));
		return 2;
	}
	n = status(c, TIMEOUT_MS);
	show("well-formed status before the abuse", n);
	if (resp_error(n) != 0) {
		qb_ipcc_disconnect(c);
		return 2;
	}

	printf("[%4ld ms] abuse: %s\n", ms(), kase);
	fflush(stdout);
	if (strcmp(kase, "notjson") == 0) {
		n = call_json(c, "this is not JSON {", TIMEOUT_MS);
	} else if (strcmp(kase, "noop") == 0) {
		n = call_json(c, "{\"seq\":2,\"path\":\"x\"}", TIMEOUT_MS);
	} else if (strcmp(kase, "unknownop") == 0) {
		n = call_json(c, "{\"op\":\"frobnicate\",\"seq\":2}", TIMEOUT_MS);
	} else if (strcmp(kase, "badid") == 0) {
		const char *j = "{\"op\":\"status\",\"seq\":2}";

		n = call_raw(c, 7, (int32_t)(sizeof(hdr) + strlen(j)), j, strlen(j), TIMEOUT_MS);
	} else if (strcmp(kase, "sizebig") == 0) {
		const char *j = "{\"op\":\"status\",\"seq\":2}";

		n = call_raw(c, REQ_ID, (int32_t)(sizeof(hdr) + strlen(j) + 100), j, strlen(j),
			     TIMEOUT_MS);
	} else if (strcmp(kase, "huge") == 0) {
		size_t len = 64 * 1024;
		char *big = malloc(len);

		if (!big)
			return 2;
		/* {"op":"status","seq":2,"pad":"xxxx...x"}: valid JSON, 64 KiB */
		memset(big, 'x', len);
		memcpy(big, "{\"op\":\"status\",\"seq\":2,\"pad\":\"", 30);
		memcpy(big + len - 2, "\"}", 2);
		n = call_raw(c, REQ_ID, (int32_t)(sizeof(hdr) + len), big, len, TIMEOUT_MS);
		free(big);
	} else if (strcmp(kase, "twice") == 0) {
		struct iovec iov[2];
		ssize_t s1, s2;

		for (int k = 0; k < 2; k++) {
			snprintf(json, sizeof(json), "{\"op\":\"acquire\",\"seq\":%d,\"path\":\"%s\","
				 "\"mode\":\"ex\",\"wait_ms\":5000}", ++seq, path);
			hdr = (struct qb_ipc_request_header){ .id = REQ_ID,
				.size = (int32_t)(sizeof(hdr) + strlen(json)) };
			iov[0] = (struct iovec){ &hdr, sizeof(hdr) };
			iov[1] = (struct iovec){ json, strlen(json) };
			if (k == 0)
				s1 = qb_ipcc_sendv(c, iov, 2);
			else
				s2 = qb_ipcc_sendv(c, iov, 2);
		}
		printf("sent two acquires of %s: %zd and %zd bytes\n", path, s1, s2);
		n = recv_wait(c, TIMEOUT_MS + 2000);
	} else if (strcmp(kase, "nodrain") == 0 || strcmp(kase, "holdjunk") == 0) {
		if (hold(c, path) < 0)
			return 2;
		if (strcmp(kase, "nodrain") == 0) {
			sleep(60);
			qb_ipcc_disconnect(c);
			return 0;
		}
		n = call_json(c, "junk", TIMEOUT_MS);
	} else {
		qb_ipcc_disconnect(c);
		return usage();
	}
	show("the abusive request", n);
	abused = n;

	/* The connection must be gone: a well-formed request on it is not answered. */
	n = status(c, 2000);
	show("well-formed status after the abuse", n);
	printf("[%4ld ms] qb_ipcc_is_connected: %d\n", ms(), (int)qb_ipcc_is_connected(c));
	qb_ipcc_disconnect(c);
	if (!gone(abused) || !gone(n)) {
		printf("RESULT: connection NOT dropped after '%s' (%s)\n", kase,
		       abused >= 0 ? "the abusive request was answered" :
		       n >= 0 ? "a later request was answered" : "no hang-up seen in time");
		return 1;
	}
	printf("RESULT: connection dropped after '%s'\n", kase);
	return 0;
}
