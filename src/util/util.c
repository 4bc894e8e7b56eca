/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hoist/util.h"

static void oom(void)
{
	static const char msg[] = "hoist: out of memory\n";
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
		/* nothing left to do */
	}
	abort();
}

void *hoist_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *hoist_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom();
	return p;
}

void *hoist_xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

char *hoist_xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		oom();
	return p;
}

char *hoist_xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);
	if (!p)
		oom();
	return p;
}

char *hoist_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (r < 0)
		oom();
	return p;
}

/* ---- buffer ---------------------------------------------------------- */

void hoist_buf_init(struct hoist_buf *b, size_t cap)
{
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
	b->cap = cap;
}

void hoist_buf_release(struct hoist_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
}

void hoist_buf_reset(struct hoist_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

int hoist_buf_add(struct hoist_buf *b, const void *data, size_t len)
{
	size_t cap = b->cap ? b->cap : HOIST_BUF_DEFAULT_CAP;

	if (len > cap || b->len > cap - len)
		return -E2BIG;
	if (b->len + len + 1 > b->alloc) {
		size_t n = b->alloc ? b->alloc : 64;
		while (n < b->len + len + 1)
			n *= 2;
		b->data = hoist_xrealloc(b->data, n);
		b->alloc = n;
	}
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int hoist_buf_addc(struct hoist_buf *b, char c)
{
	return hoist_buf_add(b, &c, 1);
}

int hoist_buf_adds(struct hoist_buf *b, const char *s)
{
	return hoist_buf_add(b, s, strlen(s));
}

int hoist_buf_addf(struct hoist_buf *b, const char *fmt, ...)
{
	_cleanup_free_ char *s = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		oom();
	return hoist_buf_add(b, s, (size_t)r);
}

char *hoist_buf_detach(struct hoist_buf *b, size_t *ret_len)
{
	char *p = b->data;
	if (!p)
		p = hoist_xstrdup("");
	if (ret_len)
		*ret_len = b->len;
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
	return p;
}

/* ---- strv ------------------------------------------------------------ */

void hoist_strv_take(struct hoist_strv *s, char *str)
{
	if (s->n + 2 > s->alloc) {
		s->alloc = s->alloc ? s->alloc * 2 : 8;
		s->v = hoist_xrealloc(s->v, s->alloc * sizeof(char *));
	}
	s->v[s->n++] = str;
	s->v[s->n] = NULL;
}

void hoist_strv_push(struct hoist_strv *s, const char *str)
{
	hoist_strv_take(s, hoist_xstrdup(str));
}

void hoist_strv_release(struct hoist_strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
	s->alloc = 0;
}

void hoist_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

/* ---- files ----------------------------------------------------------- */

int hoist_read_file_at(int dirfd, const char *path, size_t max, char **ret, size_t *ret_len,
		       struct hoist_error *err)
{
	_cleanup_close_ int fd = -1;
	_cleanup_buf_ struct hoist_buf b = HOIST_BUF_INIT;
	char chunk[65536];

	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return hoist_error_set(err, -errno, "cannot open '%s': %s", path, strerror(errno));
	hoist_buf_init(&b, max);
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return hoist_error_set(err, -errno, "cannot read '%s': %s", path,
					       strerror(errno));
		}
		if (n == 0)
			break;
		if (hoist_buf_add(&b, chunk, (size_t)n) < 0)
			return hoist_error_set(err, -EFBIG, "'%s' is larger than %zu bytes", path,
					       max);
	}
	*ret = hoist_buf_detach(&b, ret_len);
	return 0;
}

int hoist_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

bool hoist_startswith(const char *str, const char *prefix)
{
	return strncmp(str, prefix, strlen(prefix)) == 0;
}

bool hoist_endswith(const char *str, const char *suffix)
{
	size_t a = strlen(str), b = strlen(suffix);
	return a >= b && memcmp(str + a - b, suffix, b) == 0;
}

size_t hoist_edit_distance(const char *a, const char *b)
{
	enum { MAX = 256 };
	size_t la = strlen(a), lb = strlen(b);
	size_t row[MAX + 1];

	if (la > MAX || lb > MAX)
		return SIZE_MAX;
	/* One row of the DP table: row[j] is the distance of a[0..i) to b[0..j). */
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			bool same =
			    tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]);
			size_t best = diag + (same ? 0 : 1);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = up;
			row[j] = best;
		}
	}
	return row[lb];
}

const char *hoist_closest_match(const char *word, const char *const *cands, size_t n)
{
	const char *best = NULL;
	size_t best_d = SIZE_MAX, wl = strlen(word);

	for (size_t i = 0; i < n; i++) {
		if (!cands[i] || strcmp(cands[i], word) == 0)
			continue;
		size_t d = hoist_edit_distance(word, cands[i]);
		if (d < best_d && d <= 2 && d < wl) {
			best = cands[i];
			best_d = d;
		}
	}
	return best;
}

int hoist_parse_u64(const char *s, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;
	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

/* ---- digests --------------------------------------------------------- */

bool hoist_digest_valid(const char *s)
{
	if (!hoist_startswith(s, "sha256:"))
		return false;
	s += 7;
	for (int i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[64] == '\0';
}

/* ---- log ------------------------------------------------------------- */

static hoist_log_fn log_fn;
static void *log_userdata;

void hoist_log_set(hoist_log_fn fn, void *userdata)
{
	log_fn = fn;
	log_userdata = userdata;
}

void hoist_log(int level, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	if (!log_fn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_fn(level, msg, log_userdata);
}

int hoist_rm_rf_at(int pfd, const char *name)
{
	struct stat st;
	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(pfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;

	int fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == EACCES) {
		/* a directory made mode 000 (by a layer, or overlayfs's work/work) */
		(void)fchmodat(pfd, name, 0700, 0);
		fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	struct dirent *de;
	int rc = 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		int r = hoist_rm_rf_at(dirfd(d), de->d_name);
		if (r < 0 && rc == 0)
			rc = r;
	}
	closedir(d);
	if (unlinkat(pfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT && rc == 0)
		rc = -errno;
	return rc;
}
