/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hoist/worker.h: forked workers' messages and output reach the parent
 * attributed to their slot, in order; strings are bounded; a malformed frame,
 * an exit without a result and a killing signal are told apart; a worker
 * does not hold its siblings' pipes. Also hoist_build_event_pack/_unpack.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "../tap.h"
#include "hoist/build.h"
#include "hoist/worker.h"

struct got {
	int n_msgs[4];
	int64_t last_int[4];
	char first_str[4][80];
	size_t long_len;
	bool null_seen;
	struct hoist_buf out[4];
};

static void on_msg(size_t k, const struct hoist_worker_msg *m, void *userdata)
{
	struct got *g = userdata;
	g->n_msgs[k]++;
	if (m->n_ints)
		g->last_int[k] = m->ints[m->n_ints - 1];
	if (m->type == 'S' && m->n_strs >= 1 && m->strs[0] && !g->first_str[k][0])
		snprintf(g->first_str[k], sizeof(g->first_str[k]), "%s", m->strs[0]);
	if (m->type == 'L' && m->n_strs >= 2) {
		g->long_len = m->strs[0] ? strlen(m->strs[0]) : 0;
		g->null_seen = m->strs[1] == NULL;
	}
}

static void on_output(size_t k, const char *data, size_t len, void *userdata)
{
	struct got *g = userdata;
	(void)hoist_buf_add(&g->out[k], data, len);
}

/* ---- the workers ------------------------------------------------------- */

static void talker(int fd, int out_fd, void *userdata)
{
	const char *name = userdata;
	char *big = hoist_xmalloc(HOIST_WORKER_FIELD_MAX + 100);
	memset(big, 'x', HOIST_WORKER_FIELD_MAX + 99);
	big[HOIST_WORKER_FIELD_MAX + 99] = '\0';
	for (int i = 0; i < 100; i++) {
		struct hoist_worker_msg m = {
		    .type = 'S', .n_ints = 2, .ints = {7, i}, .n_strs = 1, .strs = {name}};
		hoist_worker_send(fd, &m);
		if (out_fd >= 0 && i % 10 == 0)
			(void)hoist_write_all(out_fd, name, strlen(name));
	}
	struct hoist_worker_msg l = {.type = 'L', .n_strs = 2, .strs = {big, NULL}};
	hoist_worker_send(fd, &l);
	free(big);
}

/* Reports whether fd number *userdata (a sibling's pipe in the parent) is open here. */
static void sibling_probe(int fd, int out_fd, void *userdata)
{
	const int *sib = userdata;
	(void)out_fd;
	struct hoist_worker_msg m = {
	    .type = 'P', .n_ints = 1, .ints = {fcntl(*sib, F_GETFD) < 0 && errno == EBADF}};
	hoist_worker_send(fd, &m);
}

static void junk(int fd, int out_fd, void *userdata)
{
	(void)out_fd;
	(void)userdata;
	uint32_t len = (uint32_t)HOIST_WORKER_FRAME_MAX + 1;
	(void)hoist_write_all(fd, &len, sizeof(len));
	pause(); /* until the parent kills it */
}

static void sleeper(int fd, int out_fd, void *userdata)
{
	(void)fd;
	(void)out_fd;
	(void)userdata;
	pause();
}

static void exit3(int fd, int out_fd, void *userdata)
{
	(void)fd;
	(void)out_fd;
	(void)userdata;
	_exit(3);
}

static void killed(int fd, int out_fd, void *userdata)
{
	(void)fd;
	(void)out_fd;
	(void)userdata;
	raise(SIGKILL);
}

static void fail_result(int fd, int out_fd, void *userdata)
{
	(void)out_fd;
	(void)userdata;
	struct hoist_error e = {0};
	hoist_error_set(&e, -ENOENT, "no such thing '%s'", "x");
	e.line = 12;
	snprintf(e.file, sizeof(e.file), "Dockerfile");
	struct hoist_worker_msg m = {.type = 'R'};
	hoist_worker_msg_put_error(&m, -ENOENT, &e);
	m.n_strs = 3;
	m.strs[2] = "extra";
	hoist_worker_send(fd, &m);
}

/* Run ws[k] to its end; returns its wait status. */
static int run_one(struct hoist_worker *ws, size_t n, size_t k, bool out, hoist_worker_fn fn,
		   void *ud, struct got *g, bool *ret_junk)
{
	struct hoist_error err = {0};
	struct hoist_worker_handler h = {.on_msg = on_msg, .on_output = on_output, .userdata = g};
	if (hoist_worker_start(ws, n, k, out, fn, ud, &err) < 0) {
		tap_diag("start: %s", err.msg);
		return -1;
	}
	int r = hoist_worker_wait_any(ws, n, &h, ret_junk);
	if (r != (int)k)
		tap_diag("wait_any returned %d, not %zu", r, k);
	return hoist_worker_reap(&ws[k], *ret_junk);
}

int main(void)
{
	struct hoist_worker ws[4];
	struct got g;
	struct hoist_error err = {0};
	bool isjunk = false;
	int st;

	tap_plan_auto();
	memset(&g, 0, sizeof(g));
	for (size_t i = 0; i < 4; i++) {
		ws[i] = (struct hoist_worker){.fd = -1, .out_fd = -1};
		hoist_buf_init(&g.out[i], 1 << 20);
	}

	struct hoist_worker_handler h = {.on_msg = on_msg, .on_output = on_output, .userdata = &g};
	tap_ok(hoist_worker_wait_any(ws, 4, &h, &isjunk) == -ECHILD, "no worker: -ECHILD");

	/* Two at once, each with an output pipe. */
	tap_ok(hoist_worker_start(ws, 4, 0, true, talker, (void *)"alpha", &err) == 0, "start 0");
	tap_ok(hoist_worker_start(ws, 4, 2, true, talker, (void *)"beta", &err) == 0, "start 2");
	int ended = 0, r;
	while ((r = hoist_worker_wait_any(ws, 4, &h, &isjunk)) >= 0) {
		tap_ok(!isjunk && (r == 0 || r == 2), "slot %d ended cleanly", r);
		st = hoist_worker_reap(&ws[r], false);
		tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "slot %d exited 0", r);
		ended++;
	}
	tap_ok(ended == 2 && ws[0].pid == 0 && ws[2].pid == 0, "both reaped, slots free");
	tap_ok(g.n_msgs[0] == 101 && g.n_msgs[2] == 101 && g.n_msgs[1] == 0,
	       "every message reached its slot (%d, %d)", g.n_msgs[0], g.n_msgs[2]);
	tap_ok(strcmp(g.first_str[0], "alpha") == 0 && strcmp(g.first_str[2], "beta") == 0,
	       "strings attributed to their slot");
	tap_ok(g.long_len == HOIST_WORKER_FIELD_MAX, "a long string is cut at the field limit");
	tap_ok(g.null_seen, "a NULL string stays NULL");
	tap_ok(g.out[0].len == 50 && g.out[2].len == 40 && g.out[0].data &&
		   strncmp(g.out[0].data, "alphaalpha", 10) == 0,
	       "raw output per slot (%zu, %zu bytes)", g.out[0].len, g.out[2].len);

	/* A worker started beside a running one holds none of its pipes. */
	tap_ok(hoist_worker_start(ws, 4, 1, true, sleeper, NULL, &err) == 0, "start a sibling");
	int sib = ws[1].fd;
	st = run_one(ws, 4, 3, false, sibling_probe, &sib, &g, &isjunk);
	tap_ok(g.last_int[3] == 1, "the new worker does not hold its sibling's pipe");
	st = hoist_worker_reap(&ws[1], true);
	tap_ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "reap with kill_it ends a worker");

	/* A frame longer than allowed: junk, and the worker is killed on reaping. */
	st = run_one(ws, 4, 1, false, junk, NULL, &g, &isjunk);
	tap_ok(isjunk && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
	       "a malformed frame is reported, the worker killed");

	st = run_one(ws, 4, 0, false, exit3, NULL, &g, &isjunk);
	hoist_error_clear(&err);
	tap_ok(hoist_worker_lost(st, &err) == -ECHILD &&
		   strcmp(err.msg, "its worker exited with status 3 without a result") == 0,
	       "exit without a result: '%s'", err.msg);
	st = run_one(ws, 4, 0, false, killed, NULL, &g, &isjunk);
	hoist_error_clear(&err);
	hoist_worker_lost(st, &err);
	tap_ok(strcmp(err.msg, "its worker was killed by signal 9") == 0, "killed: '%s'", err.msg);

	/* An error result travels whole. */
	struct hoist_error got = {0};
	struct hoist_worker_msg last = {0};
	last.n_ints = 5;
	last.n_strs = 2;
	struct hoist_error e = {.code = -ENOENT, .line = 12};
	snprintf(e.msg, sizeof(e.msg), "no such thing");
	snprintf(e.file, sizeof(e.file), "Dockerfile");
	hoist_worker_msg_put_error(&last, -ENOENT, &e);
	tap_ok(hoist_worker_msg_get_error(&last, &got) == -ENOENT && got.code == -ENOENT &&
		   got.line == 12 && strcmp(got.file, "Dockerfile") == 0 &&
		   strcmp(got.msg, "no such thing") == 0,
	       "put_error / get_error round trip");
	struct hoist_worker_msg shortm = {.n_ints = 4, .n_strs = 2};
	tap_ok(hoist_worker_msg_get_error(&shortm, &got) == -EBADMSG, "too few fields: -EBADMSG");
	st = run_one(ws, 4, 2, false, fail_result, NULL, &g, &isjunk);
	tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0 && g.n_msgs[2] == 102,
	       "a result message through the pipe");

	/* Build events as messages. */
	struct hoist_build_event ev = {.kind = HOIST_BUILD_EVENT_STEP,
				       .stage = "build",
				       .stage_index = 1,
				       .step = 2,
				       .n_steps = 3,
				       .text = "RUN make",
				       .cached = true,
				       .seconds = 1.25};
	struct hoist_build_event back;
	struct hoist_worker_msg bm = {.type = 'B'};
	hoist_build_event_pack(&ev, &bm);
	tap_ok(hoist_build_event_unpack(&bm, &back) == 0 && back.kind == ev.kind &&
		   back.stage_index == 1 && back.step == 2 && back.n_steps == 3 && back.cached &&
		   back.seconds == 1.25 && strcmp(back.stage, "build") == 0 &&
		   strcmp(back.text, "RUN make") == 0,
	       "build event pack / unpack");
	bm.ints[0] = 99;
	tap_ok(hoist_build_event_unpack(&bm, &back) == -EBADMSG,
	       "an unknown event kind is refused");

	for (size_t i = 0; i < 4; i++)
		hoist_buf_release(&g.out[i]);
	return tap_done();
}
