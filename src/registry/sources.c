/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Which repositories of which registries hold a blob, so a push can mount
 * it (`POST ?mount=&from=`) instead of uploading it again. One small file per
 * blob, ROOT/registry/sources/<hex>, one "host/repository" per line, newest
 * first, at most MAX_SOURCES lines. It is a hint: a lost update costs an
 * upload, never correctness, so concurrent writers just race on rename.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "registry-private.h"

#define MAX_SOURCES 16
#define MAX_SOURCES_FILE ((size_t)16 << 10)

static char *sources_path(const char *digest)
{
	if (!hoist_digest_valid(digest))
		return NULL;
	return hoist_xasprintf("registry/sources/%s", digest + 7);
}

static char *sources_read(struct hoist_store *s, const char *digest)
{
	_cleanup_free_ char *path = sources_path(digest);
	char *data = NULL;
	size_t len;
	if (!path ||
	    hoist_read_file_at(hoist_store_dirfd(s), path, MAX_SOURCES_FILE, &data, &len, NULL) < 0)
		return NULL;
	return data;
}

void reg_sources_add(struct hoist_store *s, const char *digest, const char *repo_with_host)
{
	_cleanup_free_ char *path = sources_path(digest);
	_cleanup_free_ char *old = NULL;
	_cleanup_buf_ struct hoist_buf b = HOIST_BUF_INIT;
	int dfd = hoist_store_dirfd(s);
	unsigned n = 1;

	if (!path || strchr(repo_with_host, '\n'))
		return;
	old = sources_read(s, digest);
	hoist_buf_init(&b, MAX_SOURCES_FILE);
	hoist_buf_addf(&b, "%s\n", repo_with_host);
	if (old) {
		char *save = NULL;
		for (char *l = strtok_r(old, "\n", &save); l && n < MAX_SOURCES;
		     l = strtok_r(NULL, "\n", &save)) {
			if (strcmp(l, repo_with_host) == 0)
				continue;
			hoist_buf_addf(&b, "%s\n", l);
			n++;
		}
	}
	(void)mkdirat(dfd, "registry", 0755);
	(void)mkdirat(dfd, "registry/sources", 0755);
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	_cleanup_free_ char *tmp =
	    hoist_xasprintf("%s.%d.%ld.tmp", path, (int)getpid(), (long)ts.tv_nsec);
	_cleanup_close_ int fd =
	    openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return;
	if (hoist_write_all(fd, b.data, b.len) < 0 || renameat(dfd, tmp, dfd, path) < 0)
		unlinkat(dfd, tmp, 0);
}

char *reg_sources_find(struct hoist_store *s, const char *digest, const char *host,
		       const char *exclude)
{
	_cleanup_free_ char *data = sources_read(s, digest);
	size_t hlen = strlen(host);
	char *save = NULL;

	if (!data)
		return NULL;
	for (char *l = strtok_r(data, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		if (strncmp(l, host, hlen) == 0 && l[hlen] == '/' && strcmp(l + hlen + 1, exclude))
			return hoist_xstrdup(l + hlen + 1);
	return NULL;
}
