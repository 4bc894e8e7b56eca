/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Exporting images: an OCI image layout (a directory, or the same as a tar),
 * and the docker-archive that `docker save` writes since Docker 25: a
 * complete OCI layout plus manifest.json and repositories in the same tar,
 * so Docker, Podman and skopeo (docker-archive: and oci-archive:) all read it.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hoist/archive-dl.h"
#include "hoist/ref.h"
#include "oci-private.h"

struct blob_ref {
	char digest[HOIST_DIGEST_MAX];
	int64_t size;
};

struct export
{
	struct hoist_store *s;
	struct blob_ref *blobs;
	size_t n_blobs;
	json_t *index_manifests; /* entries for index.json */
	json_t *docker_manifest; /* manifest.json */
	json_t *repositories;
};

static void export_release(struct export *x)
{
	free(x->blobs);
	json_decref(x->index_manifests);
	json_decref(x->docker_manifest);
	json_decref(x->repositories);
}

static void add_blob(struct export *x, const char *digest, int64_t size)
{
	for (size_t i = 0; i < x->n_blobs; i++)
		if (!strcmp(x->blobs[i].digest, digest))
			return;
	x->blobs = hoist_xrealloc(x->blobs, (x->n_blobs + 1) * sizeof(*x->blobs));
	snprintf(x->blobs[x->n_blobs].digest, HOIST_DIGEST_MAX, "%s", digest);
	x->blobs[x->n_blobs].size = size;
	x->n_blobs++;
}

static bool is_foreign(const char *mt)
{
	return strstr(mt, "foreign") || strstr(mt, "nondistributable");
}

/* Add a manifest or index and everything it references; *ret_doc gets the document. */
static int walk(struct export *x, const char *digest, int depth, json_t **ret_doc,
		struct hoist_error *err)
{
	json_t *doc = NULL, *arr, *d;
	struct hoist_descriptor desc;
	int64_t size;
	size_t i;
	int rc;

	if ((rc = oci_check_depth(depth, digest, err)) < 0)
		return rc;
	rc = oci_load_json(x->s, digest, -1, &doc, err);
	if (rc < 0)
		return rc;
	size = hoist_store_blob_size(x->s, digest);
	add_blob(x, digest, size);
	if (oci_is_index(doc)) {
		arr = json_object_get(doc, "manifests");
		json_array_foreach(arr, i, d)
		{
			rc = oci_parse_descriptor(d, &desc, "index entry", err);
			if (rc >= 0)
				rc = walk(x, desc.digest, depth + 1, NULL, err);
			if (rc < 0)
				goto out;
		}
	} else {
		rc = oci_parse_descriptor(json_object_get(doc, "config"), &desc, "config", err);
		if (rc < 0)
			goto out;
		if (!hoist_store_blob_exists(x->s, desc.digest)) {
			rc = hoist_error_set(err, -ENOENT, "config '%s' is not in the store",
					     desc.digest);
			goto out;
		}
		add_blob(x, desc.digest, desc.size);
		arr = json_object_get(doc, "layers");
		json_array_foreach(arr, i, d)
		{
			rc = oci_parse_descriptor(d, &desc, "layer", err);
			if (rc < 0)
				goto out;
			if (is_foreign(desc.media_type))
				continue;
			if (!hoist_store_blob_exists(x->s, desc.digest)) {
				rc = hoist_error_set(err, -ENOENT, "layer '%s' is not in the store",
						     desc.digest);
				goto out;
			}
			add_blob(x, desc.digest, desc.size);
		}
	}
	rc = 0;
	if (ret_doc)
		*ret_doc = json_incref(doc);
out:
	json_decref(doc);
	if (rc < 0)
		hoist_error_prefix(err, "exporting '%s'", digest);
	return rc;
}

/* The index.json entries for one item: one per name (or one unnamed). */
static int add_index_entries(struct export *x, const struct hoist_export_item *it, json_t *doc,
			     struct hoist_error *err)
{
	const char *mt = json_string_value(json_object_get(doc, "mediaType"));
	int64_t size = hoist_store_blob_size(x->s, it->digest);
	json_t *platform = NULL;

	if (!mt)
		mt = oci_is_index(doc) ? HOIST_MT_OCI_INDEX : HOIST_MT_OCI_MANIFEST;
	if (!oci_is_index(doc)) {
		/* The platform helps tools pick without reading the config. */
		const char *cd =
		    json_string_value(json_object_get(json_object_get(doc, "config"), "digest"));
		json_t *cfg = NULL;
		if (cd && oci_load_json(x->s, cd, -1, &cfg, NULL) == 0) {
			const char *os = json_string_value(json_object_get(cfg, "os"));
			const char *arch = json_string_value(json_object_get(cfg, "architecture"));
			const char *var = json_string_value(json_object_get(cfg, "variant"));
			if (os && arch) {
				platform = json_object();
				json_object_set_new(platform, "architecture", json_string(arch));
				json_object_set_new(platform, "os", json_string(os));
				if (var && var[0])
					json_object_set_new(platform, "variant", json_string(var));
			}
			json_decref(cfg);
		}
	}

	size_t n_names = 0;
	for (const char *const *n = it->names; n && *n; n++)
		n_names++;
	for (size_t i = 0; i < (n_names ? n_names : 1); i++) {
		json_t *d = json_object();
		json_object_set_new(d, "mediaType", json_string(mt));
		json_object_set_new(d, "digest", json_string(it->digest));
		json_object_set_new(d, "size", json_integer(size));
		if (platform)
			json_object_set(d, "platform", platform);
		if (n_names) {
			struct hoist_ref ref = {0};
			_cleanup_free_ char *full = NULL;
			int rc = hoist_ref_parse(it->names[i], &ref, err);
			if (rc < 0) {
				json_decref(d);
				json_decref(platform);
				return rc;
			}
			full = hoist_ref_string(&ref);
			json_t *a = json_object();
			json_object_set_new(a, "io.containerd.image.name", json_string(full));
			if (ref.tag)
				json_object_set_new(a, "org.opencontainers.image.ref.name",
						    json_string(ref.tag));
			json_object_set_new(d, "annotations", a);
			hoist_ref_release(&ref);
		}
		json_array_append_new(x->index_manifests, d);
	}
	json_decref(platform);
	return 0;
}

/* One manifest.json entry (and repositories rows) for one item. */
static int add_docker_entry(struct export *x, const struct hoist_export_item *it, json_t *doc,
			    struct hoist_error *err)
{
	json_t *m = json_incref(doc), *e, *tags, *layers, *l;
	char digest[HOIST_DIGEST_MAX];
	const char *last = NULL;
	size_t i;
	int rc = 0;

	snprintf(digest, sizeof(digest), "%s", it->digest);
	for (int depth = 0; oci_is_index(m); depth++) {
		struct hoist_platform host;
		struct hoist_descriptor d;
		json_t *ms = json_object_get(m, "manifests");
		int k;
		hoist_platform_host(&host);
		k = (uint64_t)depth < hoist_limits()->index_depth && json_is_array(ms)
			? oci_index_pick(ms, &host)
			: -1;
		if (k < 0 || oci_parse_descriptor(json_array_get(ms, (size_t)k), &d, "index entry",
						  err) < 0) {
			json_decref(m);
			return hoist_error_set(err, -ENOENT,
					       "'%s': no manifest for this machine's platform",
					       it->digest);
		}
		json_decref(m);
		m = NULL;
		rc = oci_load_json(x->s, d.digest, d.size, &m, err);
		if (rc < 0)
			return rc;
		snprintf(digest, sizeof(digest), "%s", d.digest);
	}

	e = json_object();
	const char *cd = json_string_value(json_object_get(json_object_get(m, "config"), "digest"));
	if (!cd) {
		json_decref(e);
		json_decref(m);
		return hoist_error_set(err, -EBADMSG, "manifest '%s' has no config", digest);
	}
	json_object_set_new(e, "Config", json_sprintf("blobs/sha256/%s", cd + 7));
	tags = json_array();
	layers = json_array();
	json_array_foreach(json_object_get(m, "layers"), i, l)
	{
		const char *ld = json_string_value(json_object_get(l, "digest"));
		if (!ld || !hoist_digest_valid(ld))
			continue;
		json_array_append_new(layers, json_sprintf("blobs/sha256/%s", ld + 7));
		last = ld;
	}
	for (const char *const *n = it->names; n && *n; n++) {
		struct hoist_ref ref = {0};
		if (hoist_ref_parse(*n, &ref, err) < 0) {
			rc = -EINVAL;
			break;
		}
		if (ref.tag) {
			_cleanup_free_ char *fam = hoist_ref_familiar(&ref);
			json_array_append_new(tags, json_string(fam));
			/* repositories keys are the familiar repository, as docker save writes */
			char *colon = strrchr(fam, ':');
			if (colon && last) {
				*colon = '\0';
				json_t *r = json_object_get(x->repositories, fam);
				if (!r) {
					r = json_object();
					json_object_set_new(x->repositories, fam, r);
				}
				json_object_set_new(r, ref.tag, json_string(last + 7));
			}
		}
		hoist_ref_release(&ref);
	}
	json_object_set_new(e, "RepoTags", json_array_size(tags) ? tags : json_null());
	if (!json_array_size(tags))
		json_decref(tags);
	json_object_set_new(e, "Layers", layers);
	json_array_append_new(x->docker_manifest, e);
	json_decref(m);
	return rc;
}

static int prepare(struct export *x, enum hoist_archive_format fmt,
		   const struct hoist_export_item *items, size_t n, struct hoist_error *err)
{
	x->index_manifests = json_array();
	x->docker_manifest = json_array();
	x->repositories = json_object();
	for (size_t i = 0; i < n; i++) {
		json_t *doc = NULL;
		int rc;
		if (!hoist_digest_valid(items[i].digest))
			return hoist_error_set(err, -EINVAL, "invalid digest '%s'",
					       items[i].digest);
		rc = walk(x, items[i].digest, 0, &doc, err);
		if (rc < 0)
			return rc;
		rc = add_index_entries(x, &items[i], doc, err);
		if (rc >= 0 && fmt == HOIST_ARCHIVE_DOCKER_TAR)
			rc = add_docker_entry(x, &items[i], doc, err);
		json_decref(doc);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static char *index_json(json_t *manifests)
{
	json_t *idx = json_object();
	json_object_set_new(idx, "schemaVersion", json_integer(2));
	json_object_set_new(idx, "mediaType", json_string(HOIST_MT_OCI_INDEX));
	json_object_set(idx, "manifests", manifests);
	char *s = hoist_json_canonical(idx);
	json_decref(idx);
	return s;
}

#define OCI_LAYOUT_JSON "{\"imageLayoutVersion\":\"1.0.0\"}"

/* ---- tar output --------------------------------------------------------- */

struct tar_out {
	int fd;
	int werr;
};

static la_ssize_t tar_write_cb(struct archive *a, void *data, const void *buf, size_t len)
{
	struct tar_out *o = data;
	int rc = hoist_write_all(o->fd, buf, len);
	if (rc < 0) {
		o->werr = rc;
		archive_set_error(a, -rc, "%s", strerror(-rc));
		return -1;
	}
	return (la_ssize_t)len;
}

static int tar_header(struct archive *a, const char *path, mode_t type, int64_t size)
{
	struct archive_entry *ae = archive_entry_new();
	int rc;
	if (!ae)
		abort();
	archive_entry_set_pathname(ae, path);
	archive_entry_set_mode(ae, type | (type == AE_IFDIR ? 0755 : 0644));
	archive_entry_set_size(ae, type == AE_IFDIR ? 0 : size);
	archive_entry_set_mtime(ae, 0, 0);
	rc = archive_write_header(a, ae);
	archive_entry_free(ae);
	return rc;
}

static int tar_mem(struct archive *a, const char *path, const char *data)
{
	size_t len = strlen(data);
	if (tar_header(a, path, AE_IFREG, (int64_t)len) != ARCHIVE_OK)
		return -1;
	return archive_write_data(a, data, len) == (la_ssize_t)len ? 0 : -1;
}

static int tar_blob(struct archive *a, struct hoist_store *s, const struct blob_ref *b,
		    struct hoist_error *err)
{
	_cleanup_close_ int fd = hoist_store_blob_open(s, b->digest, err);
	_cleanup_free_ char *path = NULL;
	_cleanup_free_ char *buf = NULL;
	int64_t size = hoist_store_blob_size(s, b->digest);
	int64_t left = size;

	if (fd < 0)
		return fd;
	path = hoist_xasprintf("blobs/sha256/%s", b->digest + 7);
	if (tar_header(a, path, AE_IFREG, size) != ARCHIVE_OK)
		return hoist_error_set(err, -EIO, "adding blob '%s': %s", b->digest,
				       archive_error_string(a));
	buf = hoist_xmalloc(65536);
	while (left > 0) {
		ssize_t n = read(fd, buf, 65536);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return hoist_error_set(err, -EIO, "reading blob '%s' failed", b->digest);
		if (n > left)
			n = (ssize_t)left;
		if (archive_write_data(a, buf, (size_t)n) != n)
			return hoist_error_set(err, -EIO, "adding blob '%s': %s", b->digest,
					       archive_error_string(a));
		left -= n;
	}
	return 0;
}

static int write_tar(struct export *x, enum hoist_archive_format fmt, int fd,
		     struct hoist_error *err)
{
	struct tar_out o = {fd, 0};
	struct archive *a = archive_write_new();
	_cleanup_free_ char *idx = index_json(x->index_manifests);
	int rc = 0;

	if (!a)
		abort();
	archive_write_set_format_pax_restricted(a);
	archive_write_add_filter_none(a);
	archive_write_set_bytes_in_last_block(a, 1);
	if (archive_write_open2(a, &o, NULL, tar_write_cb, NULL, NULL) != ARCHIVE_OK)
		goto fail;
	if (tar_mem(a, "oci-layout", OCI_LAYOUT_JSON) < 0 || tar_mem(a, "index.json", idx) < 0)
		goto fail;
	if (fmt == HOIST_ARCHIVE_DOCKER_TAR) {
		_cleanup_free_ char *man = hoist_json_canonical(x->docker_manifest);
		_cleanup_free_ char *repos = hoist_json_canonical(x->repositories);
		if (tar_mem(a, "manifest.json", man) < 0 || tar_mem(a, "repositories", repos) < 0)
			goto fail;
	}
	if (tar_header(a, "blobs", AE_IFDIR, 0) != ARCHIVE_OK ||
	    tar_header(a, "blobs/sha256", AE_IFDIR, 0) != ARCHIVE_OK)
		goto fail;
	for (size_t i = 0; i < x->n_blobs; i++) {
		rc = tar_blob(a, x->s, &x->blobs[i], err);
		if (rc < 0) {
			archive_write_free(a);
			return rc;
		}
	}
	if (archive_write_close(a) != ARCHIVE_OK)
		goto fail;
	archive_write_free(a);
	return 0;
fail:
	rc = hoist_error_set(err, o.werr ? o.werr : -EIO, "writing archive: %s",
			     archive_error_string(a));
	archive_write_free(a);
	return rc;
}

/*
 * Temp files of earlier saves to dest: "<dest>.tmp-*" that nobody holds
 * locked. A save locks its temp file before the file has a name, so one
 * that can be locked belongs to a save that was killed.
 */
static void remove_dead_temps(const char *dest)
{
	_cleanup_free_ char *dir = hoist_xstrdup(dest);
	char *slash = strrchr(dir, '/');
	const char *base = slash ? slash + 1 : dest;
	if (slash)
		slash[slash == dir ? 1 : 0] = '\0';
	_cleanup_free_ char *prefix = hoist_xasprintf("%s.tmp-", base);
	DIR *d = opendir(slash ? dir : ".");
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!hoist_startswith(de->d_name, prefix))
			continue;
		_cleanup_close_ int fd =
		    openat(dirfd(d), de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
			(void)unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
}

/*
 * The archive is written to an unnamed file (O_TMPFILE) beside dest, locked,
 * then linked as "<dest>.tmp-<random>" and renamed over dest: a killed save
 * leaves nothing (or, between link and rename, a locked-then-dead temp that
 * the next save to dest removes). Without O_TMPFILE (some filesystems) the
 * temp file is named from the start, locked at once, and found the same way.
 */
static int open_tmp_beside(const char *dest, char **ret_tmp, bool *ret_named,
			   struct hoist_error *err)
{
	_cleanup_free_ char *dir = hoist_xstrdup(dest);
	char *slash = strrchr(dir, '/');
	if (slash)
		slash[slash == dir ? 1 : 0] = '\0';
	int fd = open(slash ? dir : ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
	*ret_named = fd < 0;
	if (fd < 0) {
		_cleanup_free_ char *tmp = hoist_xasprintf("%s.tmp-XXXXXX", dest);
		fd = mkostemp(tmp, O_CLOEXEC);
		if (fd < 0)
			return hoist_error_set(err, -errno, "cannot create '%s': %s", tmp,
					       strerror(errno));
		*ret_tmp = TAKE_PTR(tmp);
	} else {
		*ret_tmp = hoist_xasprintf("%s.tmp-%d-XXXXXX", dest, (int)getpid());
	}
	(void)flock(fd, LOCK_EX | LOCK_NB);
	(void)fchmod(fd, 0644);
	return fd;
}

static int export_tar(struct export *x, enum hoist_archive_format fmt, const char *dest,
		      struct hoist_error *err)
{
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = -1;
	const char *no_lib = hoist_archive_load_error();
	bool named;
	int rc;

	/* Before the temporary file, so a missing library leaves nothing. */
	if (no_lib)
		return hoist_error_set(err, -ELIBACC, "%s", no_lib);
	if (!strcmp(dest, "-"))
		return write_tar(x, fmt, STDOUT_FILENO, err);
	remove_dead_temps(dest);
	fd = open_tmp_beside(dest, &tmp, &named, err);
	if (fd < 0)
		return fd;
	rc = write_tar(x, fmt, fd, err);
	if (rc < 0)
		hoist_error_prefix(err, "writing '%s'", dest);
	if (rc >= 0 && fsync(fd) < 0)
		rc = hoist_error_set(err, -errno, "fsync '%s': %s", dest, strerror(errno));
	if (rc >= 0 && !named) {
		char proc[64];
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		/* mkstemp's pattern, but linkat makes the name */
		size_t n = strlen(tmp);
		for (int tries = 0;; tries++) {
			static const char hex[] = "0123456789abcdef";
			unsigned char rnd[6];
			if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
				memset(rnd, tries, sizeof(rnd));
			for (int k = 0; k < 6; k++)
				tmp[n - 6 + k] = hex[rnd[k] & 15];
			if (linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) == 0)
				break;
			if (errno != EEXIST || tries > 16) {
				rc = hoist_error_set(err, -errno, "cannot link '%s': %s", tmp,
						     strerror(errno));
				return rc;
			}
		}
		named = true;
	}
	if (rc >= 0 && rename(tmp, dest) < 0)
		rc = hoist_error_set(err, -errno, "cannot rename to '%s': %s", dest,
				     strerror(errno));
	if (rc < 0 && named)
		unlink(tmp);
	return rc;
}

/* ---- directory output ----------------------------------------------------- */

static int write_file_atomic(int dirfd, const char *name, const char *data, size_t len,
			     struct hoist_error *err)
{
	_cleanup_free_ char *tmp = hoist_xasprintf(".%s.tmp-%d", name, (int)getpid());
	_cleanup_close_ int fd =
	    openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	int rc;

	if (fd < 0)
		return hoist_error_set(err, -errno, "cannot create '%s': %s", name,
				       strerror(errno));
	rc = hoist_write_all(fd, data, len);
	if (rc >= 0 && fsync(fd) < 0)
		rc = -errno;
	if (rc >= 0 && renameat(dirfd, tmp, dirfd, name) < 0)
		rc = -errno;
	if (rc < 0) {
		unlinkat(dirfd, tmp, 0);
		return hoist_error_set(err, rc, "cannot write '%s': %s", name, strerror(-rc));
	}
	return 0;
}

static int copy_blob_to(struct hoist_store *s, int shafd, const struct blob_ref *b,
			struct hoist_error *err)
{
	const char *hex = b->digest + 7;
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int in = -1, out = -1;
	char buf[65536];
	struct stat st;
	int rc = 0;

	if (fstatat(shafd, hex, &st, 0) == 0 && st.st_size == hoist_store_blob_size(s, b->digest))
		return 0; /* content-addressed: already there */
	in = hoist_store_blob_open(s, b->digest, err);
	if (in < 0)
		return in;
	tmp = hoist_xasprintf(".%s.tmp-%d", hex, (int)getpid());
	out = openat(shafd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (out < 0)
		return hoist_error_set(err, -errno, "cannot create blob '%s': %s", hex,
				       strerror(errno));
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		rc = hoist_write_all(out, buf, (size_t)n);
		if (rc < 0)
			break;
	}
	if (rc >= 0 && fsync(out) < 0)
		rc = -errno;
	if (rc >= 0 && renameat(shafd, tmp, shafd, hex) < 0)
		rc = -errno;
	if (rc < 0) {
		unlinkat(shafd, tmp, 0);
		return hoist_error_set(err, rc, "cannot write blob '%s': %s", hex, strerror(-rc));
	}
	return 0;
}

/* Keep entries of an existing index.json that the new ones do not replace. */
static void merge_existing(int dirfd, json_t *fresh)
{
	_cleanup_free_ char *data = NULL;
	size_t len, i, j;
	json_t *old, *d, *n;

	if (hoist_read_file_at(dirfd, "index.json", OCI_MAX_META, &data, &len, NULL) < 0)
		return;
	old = json_loadb(data, len, 0, NULL);
	json_t *ms = json_object_get(old, "manifests");
	json_t *keep = json_array();
	json_array_foreach(ms, i, d)
	{
		const char *name = json_string_value(json_object_get(
		    json_object_get(d, "annotations"), "org.opencontainers.image.ref.name"));
		const char *dg = json_string_value(json_object_get(d, "digest"));
		bool replaced = false;
		json_array_foreach(fresh, j, n)
		{
			const char *nn =
			    json_string_value(json_object_get(json_object_get(n, "annotations"),
							      "org.opencontainers.image.ref.name"));
			const char *nd = json_string_value(json_object_get(n, "digest"));
			if ((name && nn && !strcmp(name, nn)) ||
			    (!name && !nn && dg && nd && !strcmp(dg, nd)))
				replaced = true;
		}
		if (!replaced)
			json_array_append(keep, d);
	}
	json_array_extend(keep, fresh);
	json_array_clear(fresh);
	json_array_extend(fresh, keep);
	json_decref(keep);
	json_decref(old);
}

static int export_dir(struct export *x, const char *dest, struct hoist_error *err)
{
	_cleanup_close_ int dfd = -1, bfd = -1, sfd = -1;
	_cleanup_free_ char *idx = NULL;
	int rc;

	if (mkdir(dest, 0755) < 0 && errno != EEXIST)
		return hoist_error_set(err, -errno, "cannot create '%s': %s", dest,
				       strerror(errno));
	dfd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return hoist_error_set(err, -errno, "cannot open '%s': %s", dest, strerror(errno));
	if ((mkdirat(dfd, "blobs", 0755) < 0 && errno != EEXIST) ||
	    (bfd = openat(dfd, "blobs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
	    (mkdirat(bfd, "sha256", 0755) < 0 && errno != EEXIST) ||
	    (sfd = openat(bfd, "sha256", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return hoist_error_set(err, -errno, "cannot create '%s/blobs/sha256': %s", dest,
				       strerror(errno));
	for (size_t i = 0; i < x->n_blobs; i++) {
		rc = copy_blob_to(x->s, sfd, &x->blobs[i], err);
		if (rc < 0)
			return rc;
	}
	rc = write_file_atomic(dfd, "oci-layout", OCI_LAYOUT_JSON, strlen(OCI_LAYOUT_JSON), err);
	if (rc < 0)
		return rc;
	merge_existing(dfd, x->index_manifests);
	idx = index_json(x->index_manifests);
	/* index.json last: the layout is complete before it names anything. */
	return write_file_atomic(dfd, "index.json", idx, strlen(idx), err);
}

static int oci_export_locked(struct hoist_store *s, enum hoist_archive_format fmt, const char *dest,
			     const struct hoist_export_item *items, size_t n,
			     struct hoist_error *err)
{
	struct export x = {.s = s};
	int rc;

	if (n == 0)
		return hoist_error_set(err, -EINVAL, "no image to export");
	rc = prepare(&x, fmt, items, n, err);
	if (rc >= 0)
		rc = fmt == HOIST_ARCHIVE_OCI_DIR ? export_dir(&x, dest, err)
						  : export_tar(&x, fmt, dest, err);
	export_release(&x);
	return rc;
}

/* gc must not remove a blob between reading the manifest and copying the blob. */
int hoist_oci_export(struct hoist_store *s, enum hoist_archive_format fmt, const char *dest,
		     const struct hoist_export_item *items, size_t n, struct hoist_error *err)
{
	int r = hoist_store_lock(s, false, err);
	if (r < 0)
		return r;
	r = oci_export_locked(s, fmt, dest, items, n, err);
	hoist_store_unlock(s);
	return r;
}
