/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Small helpers shared by every module: cleanup attributes (after systemd),
 * a growable buffer with a hard cap (after curl's dynbuf), string vectors,
 * and whole-file I/O with a size bound.
 */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "hoist/error.h"

/* ---- cleanup --------------------------------------------------------- */

static inline void hoist_freep(void *p)
{
	free(*(void **)p);
}
static inline void hoist_closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}
static inline void hoist_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

#define _cleanup_(x) __attribute__((cleanup(x)))
#define _cleanup_free_ _cleanup_(hoist_freep)
#define _cleanup_close_ _cleanup_(hoist_closep)
#define _cleanup_fclose_ _cleanup_(hoist_fclosep)

/* Take ownership out of a cleanup variable: `return TAKE_PTR(p);`. */
#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) _tp = (p);                                                           \
		(p) = NULL;                                                                        \
		_tp;                                                                               \
	})
#define TAKE_FD(fd)                                                                                \
	({                                                                                         \
		int _tfd = (fd);                                                                   \
		(fd) = -1;                                                                         \
		_tfd;                                                                              \
	})

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Allocation that aborts on OOM: hoist treats OOM as fatal, like git. */
void *hoist_xmalloc(size_t n);
void *hoist_xcalloc(size_t n, size_t size);
void *hoist_xrealloc(void *p, size_t n);
char *hoist_xstrdup(const char *s);
char *hoist_xstrndup(const char *s, size_t n);
/* printf into a new string; aborts on OOM. */
char *hoist_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- growable buffer ------------------------------------------------- */

/*
 * A NUL-terminated growable byte buffer. `cap` is the hard limit on len
 * (0 means HOIST_BUF_DEFAULT_CAP); appending past it fails with -E2BIG and
 * leaves the buffer unchanged, so untrusted input can never grow it without
 * bound.
 */
#define HOIST_BUF_DEFAULT_CAP ((size_t)64 << 20)

struct hoist_buf {
	char *data; /* NUL-terminated when non-NULL */
	size_t len;
	size_t alloc;
	size_t cap;
};

#define HOIST_BUF_INIT                                                                             \
	{                                                                                          \
		NULL, 0, 0, 0                                                                      \
	}

void hoist_buf_init(struct hoist_buf *b, size_t cap);
void hoist_buf_release(struct hoist_buf *b);
void hoist_buf_reset(struct hoist_buf *b);
int hoist_buf_add(struct hoist_buf *b, const void *data, size_t len);
int hoist_buf_addc(struct hoist_buf *b, char c);
int hoist_buf_adds(struct hoist_buf *b, const char *s);
int hoist_buf_addf(struct hoist_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hand the data to the caller (who frees it); the buffer is left empty. */
char *hoist_buf_detach(struct hoist_buf *b, size_t *ret_len);

static inline void hoist_buf_releasep(struct hoist_buf *b)
{
	hoist_buf_release(b);
}
#define _cleanup_buf_ _cleanup_(hoist_buf_releasep)

/* ---- string vectors -------------------------------------------------- */

/* A NULL-terminated vector of owned strings. */
struct hoist_strv {
	char **v;
	size_t n;
	size_t alloc;
};

#define HOIST_STRV_INIT                                                                            \
	{                                                                                          \
		NULL, 0, 0                                                                         \
	}

void hoist_strv_push(struct hoist_strv *s, const char *str); /* copies str */
void hoist_strv_take(struct hoist_strv *s, char *str);	     /* takes str */
void hoist_strv_release(struct hoist_strv *s);
static inline void hoist_strv_releasep(struct hoist_strv *s)
{
	hoist_strv_release(s);
}
#define _cleanup_strv_ _cleanup_(hoist_strv_releasep)

/* Free a NULL-terminated array of strings and the array itself. */
void hoist_strv_free(char **v);

/* ---- files ----------------------------------------------------------- */

/*
 * Read a whole file (relative to dirfd, or AT_FDCWD) into *ret (NUL-terminated,
 * caller frees). Fails with -EFBIG and a message when it is larger than max.
 */
int hoist_read_file_at(int dirfd, const char *path, size_t max, char **ret, size_t *ret_len,
		       struct hoist_error *err);

/* Write all of buf to fd, retrying on EINTR and short writes. */
int hoist_write_all(int fd, const void *buf, size_t len);

/* Is s a prefix of str / does str end with suffix. */
bool hoist_startswith(const char *str, const char *prefix);
bool hoist_endswith(const char *str, const char *suffix);

/* Parse a base-10 unsigned integer with bounds; the whole string must match. */
int hoist_parse_u64(const char *s, uint64_t max, uint64_t *ret);

/*
 * For "did you mean" hints: the Levenshtein distance between a and b, ASCII
 * letters compared without case (one insertion, deletion or substitution of
 * a byte each counts 1). Strings longer than 256 bytes are not compared:
 * SIZE_MAX.
 */
size_t hoist_edit_distance(const char *a, const char *b);
/*
 * The candidate closest to word by hoist_edit_distance(), if it is close
 * enough to be a likely typo (at most 2 edits, and fewer than word has
 * bytes) and not word itself; the first of equally close ones. NULL when
 * none is. Points into cands.
 */
const char *hoist_closest_match(const char *word, const char *const *cands, size_t n);

/* ---- digests --------------------------------------------------------- */

#define HOIST_SHA256_HEX 64
/* "sha256:" + 64 hex + NUL */
#define HOIST_DIGEST_MAX 72

/* sha256 of a buffer as "sha256:<hex>". */
void hoist_sha256_digest(const void *data, size_t len, char out[HOIST_DIGEST_MAX]);
/* Is s a well-formed "sha256:<64 lower-case hex>" digest. */
bool hoist_digest_valid(const char *s);

/*
 * Streaming sha256 (src/util/sha256.c: SHA-NI, portable C, or libcrypto
 * loaded on demand). The state is inline: nothing to free, and a copy is an
 * independent hash of the same prefix.
 */
struct hoist_sha256 {
	uint32_t state[8];
	uint64_t len;	 /* bytes hashed so far */
	uint8_t buf[64]; /* the partial block: len % 64 bytes */
};
void hoist_sha256_init(struct hoist_sha256 *h);
void hoist_sha256_update(struct hoist_sha256 *h, const void *data, size_t len);
/* Finish into "sha256:<hex>" and release the context. */
void hoist_sha256_final(struct hoist_sha256 *h, char out[HOIST_DIGEST_MAX]);
/* Release without finishing (error paths). Safe on a finished or zeroed h. */
void hoist_sha256_release(struct hoist_sha256 *h);

/* ---- base64 ---------------------------------------------------------- */

/*
 * RFC 4648 base64, standard alphabet, with padding (src/util/base64.c).
 * Encode len bytes into a new NUL-terminated string (caller frees).
 */
char *hoist_base64_encode(const void *data, size_t len);
/*
 * Decode the len characters at s into a new buffer (caller frees; NUL
 * added after the *ret_len bytes, so text comes back as a C string). The
 * input must be canonical: a multiple of 4 characters from the alphabet,
 * '=' only as the last one or two, no whitespace; otherwise -EBADMSG and
 * nothing is allocated. Bits below the last full byte are ignored, as Go's
 * decoder (which writes Docker's config) does.
 */
int hoist_base64_decode(const char *s, size_t len, char **ret, size_t *ret_len);

/* ---- logging hook ---------------------------------------------------- */

/*
 * Library code never prints. It may report progress and debug lines through
 * this hook, which the CLI installs. level: 0 info, 1 debug.
 */
/*
 * Process-wide, for a command-line program: back the main malloc heap with
 * transparent huge pages (fresh 4 KiB page faults dominate a short run's
 * cost on virtual machines; src/util/heap.c). Call once, first thing in
 * main(), before any thread starts. A no-op where THP is unavailable.
 */
void hoist_heap_tune(void);

typedef void (*hoist_log_fn)(int level, const char *msg, void *userdata);
void hoist_log_set(hoist_log_fn fn, void *userdata);
void hoist_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * rm -rf of name under the directory dirfd (AT_FDCWD for a path), never
 * following a symlink; a mode-000 directory is opened after a chmod. 0 when
 * it is gone (or was never there), else the first -errno met.
 */
int hoist_rm_rf_at(int dirfd, const char *name);
