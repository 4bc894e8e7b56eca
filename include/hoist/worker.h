/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Forked workers that report to their parent over a pipe (src/util/worker.c).
 *
 * Why processes and not threads: a build's RUN clones user namespaces,
 * which the kernel only allows a single-threaded process, and the sandbox
 * must not clone beside libcurl's resolver threads anyway (docs/sandbox.md).
 * So `hoist stack build` (src/stack/sched.c) and a multi-platform `hoist
 * build` (src/build/multi.c) run each job in a forked child. The child
 * sends messages (events, then its result) to the parent, which alone calls
 * the caller's callbacks: library callbacks are never called from two
 * processes.
 *
 * Wire format, worker -> parent (both sides are this binary, so native byte
 * order): a frame is a u32 length, then that many bytes: a type byte, a
 * count of int64 fields, a count of string fields, the ints, then each
 * string as a u32 length (UINT32_MAX: NULL) and its bytes. The parent
 * bounds every count and length; a malformed frame is reported so that the
 * caller kills the worker.
 *
 * Fork from a process with no other thread running (every hoist call that
 * starts threads joins them before it returns): the child gets only the
 * calling thread, and a lock another thread held stays held in it.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hoist/error.h"
#include "hoist/util.h"

#define HOIST_WORKER_MSG_INTS 8
#define HOIST_WORKER_MSG_STRS 8
#define HOIST_WORKER_FRAME_MAX ((size_t)256 << 10) /* one message */
#define HOIST_WORKER_FIELD_MAX ((size_t)64 << 10)  /* one string in it; longer ones are cut */

/* One message. `type` is the caller's (one byte); strings may be NULL. */
struct hoist_worker_msg {
	int type;
	size_t n_ints, n_strs;
	int64_t ints[HOIST_WORKER_MSG_INTS];
	const char *strs[HOIST_WORKER_MSG_STRS];
};

/*
 * Send m on fd (a worker's end of its pipe). Failures are ignored: the
 * parent being gone is nothing the worker can act on (a write to its pipe
 * then raises SIGPIPE, which ends the worker).
 */
void hoist_worker_send(int fd, const struct hoist_worker_msg *m);

/*
 * The usual last message's error part: ints[0] = rc, ints[1..4] = err's
 * code, line, column and HTTP status, strs[0..1] = err's file and message
 * (pointing into *err, which must outlive the send). Sets n_ints and n_strs
 * to at least 5 and 2; the caller adds its own fields after those.
 * err may be NULL.
 */
void hoist_worker_msg_put_error(struct hoist_worker_msg *m, int rc, const struct hoist_error *err);

/*
 * Read back what hoist_worker_msg_put_error() wrote into *err (code set
 * from rc when the worker's error had none). Returns rc, or -EBADMSG (err
 * untouched) when m has too few fields.
 */
int hoist_worker_msg_get_error(const struct hoist_worker_msg *m, struct hoist_error *err);

/* ---- the parent's side ---------------------------------------------- */

/* A worker slot. Zero it (or set pid = 0) before the first start. */
struct hoist_worker {
	pid_t pid;	     /* > 0 from start until reaped */
	int fd;		     /* read end of the message pipe, -1 after EOF */
	int out_fd;	     /* read end of the raw output pipe, -1 without one or after EOF */
	struct hoist_buf in; /* bytes of an incomplete frame */
};

/*
 * What runs in the child: fd is its message pipe, out_fd the write end of
 * its raw output pipe (-1 without one). When it returns, the child leaves
 * with _exit(0): the parent's atexit handlers and stdio buffers never run
 * twice. It may also _exit() itself.
 */
typedef void (*hoist_worker_fn)(int fd, int out_fd, void *userdata);

/*
 * Fork a worker into slot ws[k] (of ws[0..n)): make its message pipe and,
 * with `with_output`, a second pipe for raw bytes (a command's output),
 * flush stdio (or the child's exit could write buffered output again), fork,
 * and run fn(fd, out_fd, userdata) in the child, which first closes the
 * parent's ends of the other running slots' pipes. Every descriptor made
 * here is O_CLOEXEC. -errno with err set when the pipe or the fork fails
 * (slot left free).
 */
int hoist_worker_start(struct hoist_worker *ws, size_t n, size_t k, bool with_output,
		       hoist_worker_fn fn, void *userdata, struct hoist_error *err);

struct hoist_worker_handler {
	/* A complete message of worker ws[k]. Its strings live until it returns. */
	void (*on_msg)(size_t k, const struct hoist_worker_msg *m, void *userdata);
	/* Raw bytes from ws[k]'s output pipe (may be NULL: dropped). */
	void (*on_output)(size_t k, const char *data, size_t len, void *userdata);
	void *userdata;
};

/*
 * Wait for the running workers among ws[0..n) (pid > 0), passing their
 * messages and output to h as they arrive, until one of them has closed
 * both its pipes (it has ended or is about to) or sent a malformed frame.
 * Returns that slot's index, with *ret_junk telling a malformed frame (reap
 * it with kill_it then), or -ECHILD when no worker runs. Other slots' EOFs
 * are seen again by the next call.
 */
int hoist_worker_wait_any(struct hoist_worker *ws, size_t n, const struct hoist_worker_handler *h,
			  bool *ret_junk);

/*
 * Close ws[k]'s pipes, SIGKILL it first with kill_it, and wait for it; the
 * slot is free again (pid 0). Returns its wait status (waitpid's), or
 * -errno.
 */
int hoist_worker_reap(struct hoist_worker *w, bool kill_it);

/*
 * Word a worker that ended without its result: -ECHILD with "its worker was
 * killed by signal N" or "its worker exited with status N without a
 * result" from its wait status (hoist_worker_reap()); callers prefix what
 * the worker was doing.
 */
int hoist_worker_lost(int status, struct hoist_error *err);

/* The default number of workers: the CPUs online (at least 1). */
unsigned hoist_worker_default_jobs(void);
