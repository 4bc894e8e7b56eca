/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What ADD does beyond COPY (copy.c): a local tar source (plain or
 * compressed, recognised by its bytes, not its name) is extracted into the
 * destination, and a URL source is fetched (libcurl, loaded on first use)
 * into the build's temp dir, bounded at ADD_URL_MAX.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "build-private.h"

#define ADD_URL_MAX ((curl_off_t)8 << 30)

/* ---- ADD: archives ------------------------------------------------------ */

bool add_archive_magic(const unsigned char *b, size_t n, bool *compressed)
{
	*compressed = true;
	if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b)
		return true;
	if (n >= 3 && memcmp(b, "BZh", 3) == 0)
		return true;
	if (n >= 6 && memcmp(b,
			     "\xfd"
			     "7zXZ\0",
			     6) == 0)
		return true;
	if (n >= 4 && memcmp(b, "\x28\xb5\x2f\xfd", 4) == 0)
		return true;
	*compressed = false;
	return n >= 262 && memcmp(b + 257, "ustar", 5) == 0;
}

static char *tmp_file(struct copy_req *r)
{
	return hoist_xasprintf("%s/f%u", r->tmpdir, (*r->tmp_counter)++);
}

int add_extract_tar(struct copy_req *r, struct hoist_fstree *t, int fd, const char *name,
		    bool compressed, struct hoist_error *err)
{
	struct hoist_tar_reader *tr = NULL;
	struct hoist_fsnode *root;
	int k, count = 0;

	k = stage_tree_mkdir_p(t, r->dest, r->has_chown ? r->uid : 0, r->has_chown ? r->gid : 0,
			       r->mtime_now, &root);
	if (k < 0)
		return hoist_error_set_at(err, k, r->file, r->in->line, 0,
					  "ADD: cannot create directory '%s': %s", r->dest,
					  strerror(-k));
	hoist_fstree_touch(root, t->gen);
	_cleanup_free_ char *rootpath = hoist_fstree_node_path(root);
	k = hoist_tar_reader_open(fd, name, &tr, err);
	if (k < 0)
		goto bad;
	for (;;) {
		struct hoist_entry e = {0};
		k = hoist_tar_reader_next(tr, &e, err);
		if (k <= 0) {
			hoist_entry_release(&e);
			if (k < 0 && compressed && count == 0) {
				/* Not a tar after all: BuildKit copies it as a file. */
				hoist_tar_reader_free(tr);
				return 1;
			}
			break;
		}
		count++;
		_cleanup_free_ char *abs = hoist_xasprintf("/%s/%s", rootpath, e.path);
		_cleanup_free_ char *clean = go_path_clean(abs);
		char *slash = strrchr(clean, '/');
		_cleanup_free_ char *leaf = hoist_xstrdup(slash + 1);
		struct hoist_fsnode *dir;
		if (slash == clean)
			slash[1] = '\0';
		else
			*slash = '\0';
		if (!*leaf) {
			hoist_entry_release(&e);
			continue;
		}
		k = stage_tree_mkdir_p(t, clean, 0, 0, r->mtime_now, &dir);
		if (k < 0) {
			hoist_error_set_at(err, k, r->file, r->in->line, 0,
					   "ADD: extracting '%s': cannot create '%s': %s", name,
					   clean, strerror(-k));
			hoist_entry_release(&e);
			break;
		}
		_cleanup_free_ char *content = NULL;
		if (e.type == HOIST_ENTRY_HARDLINK) {
			_cleanup_free_ char *tabs = hoist_xasprintf("/%s/%s", rootpath, e.linkname);
			struct hoist_fsnode *tn;
			if (hoist_fstree_resolve(t, tabs, 0, &tn, NULL, NULL, NULL) < 0 ||
			    tn->e.type != HOIST_ENTRY_FILE) {
				k = hoist_error_set_at(err, -EBADMSG, r->file, r->in->line, 0,
						       "ADD: '%s': hardlink '%s' to a missing file",
						       name, e.path);
				hoist_entry_release(&e);
				break;
			}
			uint32_t mode = e.mode, uid = e.uid, gid = e.gid;
			free(e.linkname);
			e.linkname = NULL;
			e.type = HOIST_ENTRY_FILE;
			e.size = tn->e.size;
			e.mode = mode;
			e.uid = uid;
			e.gid = gid;
			content = hoist_xstrdup(tn->src);
		} else if (e.type == HOIST_ENTRY_FILE) {
			content = tmp_file(r);
			_cleanup_close_ int out =
			    open(content, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
			if (out < 0) {
				k = hoist_error_set(err, -errno, "creating '%s': %s", content,
						    strerror(errno));
				hoist_entry_release(&e);
				break;
			}
			char buf[65536];
			uint64_t total = 0;
			ssize_t n;
			while ((n = hoist_tar_reader_read(tr, buf, sizeof(buf), err)) > 0) {
				if (hoist_write_all(out, buf, (size_t)n) < 0) {
					n = hoist_error_set(err, -errno, "writing '%s': %s",
							    content, strerror(errno));
					break;
				}
				total += (uint64_t)n;
			}
			if (n < 0) {
				k = (int)n;
				hoist_entry_release(&e);
				break;
			}
			e.size = total;
		}
		free(e.path);
		e.path = NULL;
		struct hoist_fsnode *existing = hoist_fstree_child(dir, leaf);
		struct hoist_fsnode *nn;
		if (existing && existing->e.type == HOIST_ENTRY_DIR && e.type == HOIST_ENTRY_DIR) {
			existing->e.mode = e.mode;
			existing->e.uid = e.uid;
			existing->e.gid = e.gid;
			existing->e.mtime = e.mtime;
			nn = existing;
		} else {
			nn = hoist_fstree_put(dir, leaf, &e, content);
		}
		hoist_fstree_touch(nn, t->gen);
		hoist_entry_release(&e);
	}
	hoist_tar_reader_free(tr);
	if (k < 0)
		goto bad;
	return 0;
bad:
	return hoist_error_prefix(err, "%s:%d: ADD '%s'", r->file ? r->file : "Dockerfile",
				  r->in->line, name);
}

/* ---- ADD: URLs ---------------------------------------------------------- */

struct dl {
	int fd;
	curl_off_t total;
	int werr;
};

static size_t dl_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct dl *d = userdata;
	size_t n = size * nmemb;
	d->total += (curl_off_t)n;
	if (d->total > ADD_URL_MAX || hoist_write_all(d->fd, ptr, n) < 0) {
		d->werr = 1;
		return 0;
	}
	return n;
}

int add_download(struct copy_req *r, size_t idx, const char *url, struct hoist_error *err)
{
	_cleanup_free_ char *path = tmp_file(r);
	struct dl d = {.fd = -1};
	long status = 0, filetime = -1;
	CURLcode cc;

	d.fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (d.fd < 0)
		return hoist_error_set(err, -errno, "creating '%s': %s", path, strerror(errno));
	CURL *c = curl_easy_init();
	if (!c) {
		close(d.fd);
		return hoist_error_set(err, -ENOMEM, "cannot start libcurl");
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, dl_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &d);
	curl_easy_setopt(c, CURLOPT_FILETIME, 1L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "hoist");
	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(c, CURLINFO_FILETIME, &filetime);
	curl_easy_cleanup(c);
	close(d.fd);
	if (cc != CURLE_OK || status < 200 || status >= 300) {
		unlink(path);
		if (cc == CURLE_OK)
			return hoist_error_set_at(err, -EIO, r->file, r->in->line, 0,
						  "ADD %s: HTTP status %ld", url, status);
		return hoist_error_set_at(err, -EIO, r->file, r->in->line, 0, "ADD %s: %s", url,
					  curl_easy_strerror(cc));
	}
	if (r->in->checksum) {
		char dg[HOIST_DIGEST_MAX];
		_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
		struct hoist_sha256 h;
		char buf[65536];
		ssize_t n;
		hoist_sha256_init(&h);
		while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0)
			hoist_sha256_update(&h, buf, (size_t)n);
		hoist_sha256_final(&h, dg);
		if (strcmp(dg, r->in->checksum) != 0) {
			unlink(path);
			return hoist_error_set_at(err, -EBADMSG, r->file, r->in->line, 0,
						  "ADD %s: digest mismatch %s: %s", url, dg,
						  r->in->checksum);
		}
	}
	/* Docker: mode 0600, mtime from Last-Modified (else unchanged = 0 here). */
	if (filetime >= 0) {
		struct timespec ts[2] = {{filetime, 0}, {filetime, 0}};
		(void)utimensat(AT_FDCWD, path, ts, 0);
	}
	r->downloads[idx] = TAKE_PTR(path);
	return 0;
}

const char *add_url_basename(const char *url, char *buf, size_t size)
{
	const char *p = strstr(url, "://");
	p = p ? p + 3 : url;
	const char *path = strchr(p, '/');
	if (!path)
		return "index.html";
	size_t len = strcspn(path, "?#");
	while (len > 1 && path[len - 1] == '/')
		len--;
	const char *b = path;
	for (size_t i = 0; i < len; i++)
		if (path[i] == '/')
			b = path + i + 1;
	size_t bl = (size_t)(path + len - b);
	if (bl == 0)
		return "index.html";
	snprintf(buf, size, "%.*s", (int)bl, b);
	return buf;
}
