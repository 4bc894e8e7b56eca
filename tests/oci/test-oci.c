/* SPDX-License-Identifier: Apache-2.0 */
/* OCI documents: platforms, loading real layouts, committing, export/import round trips. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hoist/layer.h"
#include "hoist/oci.h"
#include "hoist/ref.h"
#include "hoist/store.h"
#include "hoist/util.h"
#include "tap.h"
#include "tmpstore.h"

static char tmpdir[] = "/tmp/hoist-test-oci-XXXXXX";
static struct hoist_store *store;

static void test_platforms(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	    {"linux/amd64", "linux/amd64"},	{"linux/x86_64", "linux/amd64"},
	    {"x86_64", "linux/amd64"},		{"linux/aarch64", "linux/arm64"},
	    {"linux/arm64/v8", "linux/arm64"},	{"linux/armhf", "linux/arm/v7"},
	    {"linux/arm", "linux/arm/v7"},	{"linux/arm/v6", "linux/arm/v6"},
	    {"linux/armel", "linux/arm/v6"},	{"linux/arm/7", "linux/arm/v7"},
	    {"linux/riscv64", "linux/riscv64"}, {"linux/ppc64le", "linux/ppc64le"},
	    {"linux/s390x", "linux/s390x"},	{"Linux/AMD64", "linux/amd64"},
	    {"linux/i386", "linux/386"},	{"arm64", "linux/arm64"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct hoist_platform p;
		struct hoist_error err = {0};
		char buf[96] = "";
		int rc = hoist_platform_parse(cases[i].in, &p, &err);
		if (rc == 0)
			hoist_platform_format(&p, buf, sizeof(buf));
		tap_ok(rc == 0 && !strcmp(buf, cases[i].out), "platform '%s' -> '%s' (%s)",
		       cases[i].in, buf, cases[i].out);
	}
	static const char *bad[] = {"",
				    "/",
				    "linux/",
				    "linux//v7",
				    "a/b/c/d",
				    "linux/am d64",
				    "linux/amd64/verylongvariantname"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct hoist_platform p;
		struct hoist_error err = {0};
		tap_ok(hoist_platform_parse(bad[i], &p, &err) == -EINVAL, "rejects platform '%s'",
		       bad[i]);
	}
	struct hoist_platform a, b, h;
	hoist_platform_parse("linux/arm64/v8", &a, NULL);
	hoist_platform_parse("linux/aarch64", &b, NULL);
	tap_ok(hoist_platform_equal(&a, &b), "arm64/v8 equals aarch64");
	hoist_platform_host(&h);
	tap_ok(h.os[0] && h.architecture[0], "host platform %s/%s", h.os, h.architecture);

	/* A platform a user names: Go's OS and architecture names only. */
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct hoist_platform p;
		tap_ok(hoist_platform_parse_known(cases[i].in, &p, NULL) == 0,
		       "known platform '%s'", cases[i].in);
	}
	static const struct {
		const char *in, *msg;
	} unknown[] = {
	    {"linux/amd65",
	     "invalid platform 'linux/amd65': unknown architecture 'amd65' (did you mean "
	     "'amd64'?); known architectures: 386, amd64, amd64p32, arm, arm64, arm64be, armbe, "
	     "loong64, mips, mips64, mips64le, mips64p32, mips64p32le, mipsle, ppc, ppc64, "
	     "ppc64le, riscv, riscv64, s390, s390x, sparc, sparc64, wasm"},
	    {"lnux/arm64",
	     "invalid platform 'lnux/arm64': unknown operating system 'lnux' (did you mean "
	     "'linux'?); known operating systems: aix, android, darwin, dragonfly, freebsd, hurd, "
	     "illumos, ios, js, linux, nacl, netbsd, openbsd, plan9, solaris, wasip1, windows, "
	     "zos"},
	    {"linux/zzzzzz",
	     "invalid platform 'linux/zzzzzz': unknown architecture 'zzzzzz'; known architectures: "
	     "386, amd64, amd64p32, arm, arm64, arm64be, armbe, loong64, mips, mips64, mips64le, "
	     "mips64p32, mips64p32le, mipsle, ppc, ppc64, ppc64le, riscv, riscv64, s390, s390x, "
	     "sparc, sparc64, wasm"},
	    {"a/b/c/d", "invalid platform 'a/b/c/d'"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(unknown); i++) {
		struct hoist_platform p;
		struct hoist_error err = {0};
		int rc = hoist_platform_parse_known(unknown[i].in, &p, &err);
		tap_ok(rc == -EINVAL && strcmp(err.msg, unknown[i].msg) == 0,
		       "refuses platform '%s' (got '%s')", unknown[i].in, err.msg);
	}
	/* ... while one read from an image or index is kept as it is. */
	tap_ok(hoist_platform_parse("unknown/unknown", &h, NULL) == 0,
	       "an index's 'unknown/unknown' still parses leniently");
}

/* Put every file of a real layout into the store; return the index digest. */
static int put_layout(const char *dir, char digest[HOIST_DIGEST_MAX])
{
	_cleanup_free_ char *blobs = hoist_xasprintf("%s/blobs/sha256", dir);
	DIR *d = opendir(blobs);
	struct dirent *de;
	char *data;
	size_t len;
	int rc = 0;
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		_cleanup_free_ char *p = hoist_xasprintf("%s/%s", blobs, de->d_name);
		if (hoist_read_file_at(AT_FDCWD, p, 1 << 22, &data, &len, NULL) == 0) {
			rc = hoist_store_blob_put(store, data, len, NULL, NULL);
			free(data);
		}
	}
	closedir(d);
	_cleanup_free_ char *idx = hoist_xasprintf("%s/index.json", dir);
	if (hoist_read_file_at(AT_FDCWD, idx, 1 << 22, &data, &len, NULL) < 0)
		return -ENOENT;
	rc = hoist_store_blob_put(store, data, len, digest, NULL);
	free(data);
	return rc;
}

static void test_real_layouts(const char *corpora)
{
	static const struct {
		const char *dir, *platform, *arch, *variant;
		int expect;
	} cases[] = {
	    {"busybox-glibc-amd64", "linux/amd64", "amd64", NULL, 0},
	    {"busybox-musl-amd64", NULL, "amd64", NULL, 0},
	    {"busybox-uclibc-amd64", "linux/x86_64", "amd64", NULL, 0},
	    {"busybox-musl-arm64v8", "linux/arm64", "arm64", "v8", 0},
	    {"busybox-musl-arm64v8", "linux/arm64/v8", "arm64", "v8", 0},
	    {"busybox-musl-arm64v8", "linux/amd64", NULL, NULL, -ENOENT},
	    {"busybox-glibc-arm32v7", "linux/arm/v7", "arm", "v7", 0},
	    {"busybox-glibc-arm32v7", "linux/arm", "arm", "v7", 0},
	    {"busybox-glibc-arm32v7", "linux/armhf", "arm", "v7", 0},
	    {"busybox-glibc-arm32v7", "linux/arm/v8", "arm", "v7", 0},
	    {"busybox-glibc-arm32v7", "linux/arm/v6", NULL, NULL, -ENOENT},
	    {"busybox-glibc-arm32v7", NULL, NULL, NULL, -ENOENT},
	    {"debian-bookworm-s390x", "linux/s390x", "s390x", NULL, 0},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		_cleanup_free_ char *dir =
		    hoist_xasprintf("%s/oci-image-spec/real-layouts/%s", corpora, cases[i].dir);
		char idx[HOIST_DIGEST_MAX];
		struct hoist_platform p;
		struct hoist_image img = {0};
		struct hoist_error err = {0};
		int rc = put_layout(dir, idx);
		if (rc < 0) {
			tap_ok(false, "put %s in the store", cases[i].dir);
			continue;
		}
		if (cases[i].platform)
			hoist_platform_parse(cases[i].platform, &p, NULL);
		rc = hoist_image_load(store, idx, cases[i].platform ? &p : NULL, &img, &err);
		if (cases[i].expect) {
			tap_ok(rc == cases[i].expect, "%s for %s: %s", cases[i].dir,
			       cases[i].platform ? cases[i].platform : "host", err.msg);
		} else {
			const char *arch =
			    json_string_value(json_object_get(img.config, "architecture"));
			const char *var = json_string_value(json_object_get(img.config, "variant"));
			tap_ok(rc == 0 && arch && !strcmp(arch, cases[i].arch) &&
				   (!cases[i].variant || (var && !strcmp(var, cases[i].variant))) &&
				   img.n_layers == 1 && img.manifest_digest[0] &&
				   img.config_digest[0],
			       "%s for %s: arch %s variant %s, %zu layer (%s)", cases[i].dir,
			       cases[i].platform ? cases[i].platform : "host", arch ? arch : "-",
			       var ? var : "-", img.n_layers, err.msg);
		}
		hoist_image_release(&img);
	}

	/* a multi-platform index: the right manifest per platform */
	char d1[HOIST_DIGEST_MAX], d2[HOIST_DIGEST_MAX], mi[HOIST_DIGEST_MAX];
	_cleanup_free_ char *p1 =
	    hoist_xasprintf("%s/oci-image-spec/real-layouts/%s", corpora, "busybox-musl-amd64");
	_cleanup_free_ char *p2 =
	    hoist_xasprintf("%s/oci-image-spec/real-layouts/%s", corpora, "busybox-glibc-arm32v7");
	if (!tap_ok(put_layout(p1, d1) == 0 && put_layout(p2, d2) == 0,
		    "put busybox-musl-amd64 and busybox-glibc-arm32v7 in the store"))
		return;
	json_t *i1 = NULL, *i2 = NULL;
	char *data;
	size_t len;
	hoist_store_blob_read(store, d1, 1 << 20, &data, &len, NULL);
	i1 = json_loadb(data, len, 0, NULL);
	free(data);
	hoist_store_blob_read(store, d2, 1 << 20, &data, &len, NULL);
	i2 = json_loadb(data, len, 0, NULL);
	free(data);
	json_array_extend(json_object_get(i1, "manifests"), json_object_get(i2, "manifests"));
	_cleanup_free_ char *multi = hoist_json_canonical(i1);
	json_decref(i1);
	json_decref(i2);
	hoist_store_blob_put(store, multi, strlen(multi), mi, NULL);
	struct hoist_platform pa, pb;
	struct hoist_image a = {0}, b = {0};
	hoist_platform_parse("linux/amd64", &pa, NULL);
	hoist_platform_parse("linux/arm/v7", &pb, NULL);
	int ra = hoist_image_load(store, mi, &pa, &a, NULL);
	int rb = hoist_image_load(store, mi, &pb, &b, NULL);
	tap_ok(ra == 0 && rb == 0 && strcmp(a.manifest_digest, b.manifest_digest) != 0 &&
		   !strcmp(json_string_value(json_object_get(b.config, "architecture")), "arm"),
	       "multi-platform index picks per platform");
	hoist_image_release(&a);
	hoist_image_release(&b);
}

static int make_layer(struct hoist_descriptor *d, char diff[HOIST_DIGEST_MAX])
{
	struct hoist_layer_writer *w;
	struct hoist_entry e = {0};
	struct hoist_layer_opts o = {0, 0};
	int rc = hoist_layer_writer_new(store, &o, &w, NULL);
	if (rc < 0)
		return rc;
	e.path = (char *)"etc";
	e.type = HOIST_ENTRY_DIR;
	e.mode = 0755;
	hoist_layer_add(w, &e, -1, NULL);
	e.path = (char *)"etc/motd";
	e.type = HOIST_ENTRY_FILE;
	e.mode = 0644;
	e.size = 3;
	int p[2];
	if (pipe(p) < 0)
		return -errno;
	hoist_write_all(p[1], "hi\n", 3);
	close(p[1]);
	rc = hoist_layer_add(w, &e, p[0], NULL);
	close(p[0]);
	if (rc < 0) {
		hoist_layer_writer_abort(w);
		return rc;
	}
	return hoist_layer_writer_finish(w, d, diff, NULL);
}

static void test_commit_and_exchange(void)
{
	struct hoist_image img, back = {0}, copy;
	struct hoist_descriptor layer, man, man2;
	struct hoist_error err = {0};
	char diff[HOIST_DIGEST_MAX];
	int rc;

	rc = make_layer(&layer, diff);
	tap_ok(rc == 0, "layer for the image");
	hoist_image_init(&img);
	json_object_set_new(img.config, "created", json_string("1970-01-01T00:00:00Z"));
	json_object_set_new(json_object_get(img.config, "config"), "Cmd",
			    json_pack("[s]", "/bin/sh"));
	json_object_set_new(json_object_get(img.config, "config"), "Healthcheck",
			    json_pack("{s:[s,s]}", "Test", "CMD", "true"));
	json_object_set_new(json_object_get(img.config, "config"), "OnBuild",
			    json_pack("[s]", "RUN true"));
	hoist_image_add_layer(&img, &layer, diff);
	hoist_image_add_history(&img, "1970-01-01T00:00:00Z", "COPY motd /etc/", false);
	hoist_image_add_history(&img, "1970-01-01T00:00:00Z", "CMD [\"/bin/sh\"]", true);
	rc = hoist_image_commit(store, &img, &man, &err);
	tap_ok(rc == 0 && !strcmp(man.media_type, HOIST_MT_OCI_MANIFEST), "commit (%s)", err.msg);
	hoist_image_copy(&copy, &img);
	rc = hoist_image_commit(store, &copy, &man2, &err);
	tap_ok(rc == 0 && !strcmp(man.digest, man2.digest), "equal images, equal digests");
	hoist_image_release(&copy);

	char *data = NULL;
	size_t len;
	hoist_store_blob_read(store, man.digest, 1 << 20, &data, &len, NULL);
	json_t *j = data ? json_loadb(data, len, 0, NULL) : NULL;
	char *canon = j ? hoist_json_canonical(j) : NULL;
	tap_ok(canon && len == strlen(canon) && !memcmp(canon, data, len),
	       "manifest is canonical JSON");
	free(canon);
	free(data);
	json_decref(j);

	rc = hoist_image_load(store, man.digest, NULL, &back, &err);
	_cleanup_free_ char *c1 = hoist_json_canonical(img.config);
	_cleanup_free_ char *c2 = back.config ? hoist_json_canonical(back.config) : NULL;
	tap_ok(rc == 0 && c2 && !strcmp(c1, c2) && back.n_layers == 1 &&
		   !strcmp(back.layers[0].digest, layer.digest),
	       "load what was committed (%s)", err.msg);
	tap_ok(json_object_get(json_object_get(back.config, "config"), "Healthcheck") &&
		   json_object_get(json_object_get(back.config, "config"), "OnBuild"),
	       "Docker's Healthcheck and OnBuild kept in config");
	hoist_image_release(&back);
	hoist_image_release(&img);

	/* export in all three formats, import into a second store, compare */
	const char *names[] = {"docker.io/library/hello:1.0", "example.com/x/hello:latest", NULL};
	struct hoist_export_item it;
	memcpy(it.digest, man.digest, sizeof(it.digest));
	it.names = names;
	static const struct {
		enum hoist_archive_format fmt;
		const char *file;
	} fmts[] = {{HOIST_ARCHIVE_OCI_DIR, "layout"},
		    {HOIST_ARCHIVE_OCI_TAR, "oci.tar"},
		    {HOIST_ARCHIVE_DOCKER_TAR, "docker.tar"}};
	for (size_t i = 0; i < ARRAY_SIZE(fmts); i++) {
		_cleanup_free_ char *dest = hoist_xasprintf("%s/%s", tmpdir, fmts[i].file);
		_cleanup_free_ char *root2 = hoist_xasprintf("%s/store-%zu", tmpdir, i);
		struct hoist_store *s2 = NULL;
		char **got = NULL;
		char tagged[HOIST_DIGEST_MAX] = "";
		rc = hoist_oci_export(store, fmts[i].fmt, dest, &it, 1, &err);
		tap_ok(rc == 0, "export %s (%s)", fmts[i].file, err.msg);
		hoist_store_open(root2, &s2, NULL);
		rc = hoist_oci_import(s2, dest, &got, &err);
		tap_ok(rc == 0 && got && got[0] && got[1] && !got[2], "import %s: %s %s (%s)",
		       fmts[i].file, got && got[0] ? got[0] : "-",
		       got && got[0] && got[1] ? got[1] : "-", err.msg);
		hoist_store_tag_get(s2, "docker.io/library/hello:1.0", tagged, NULL);
		tap_ok(!strcmp(tagged, man.digest), "%s round trip keeps the digest", fmts[i].file);
		struct hoist_image im = {0};
		rc = hoist_image_load(s2, tagged, NULL, &im, &err);
		tap_ok(rc == 0 && hoist_store_blob_exists(s2, im.layers[0].digest),
		       "%s: image complete in the new store", fmts[i].file);
		hoist_image_release(&im);
		hoist_strv_free(got);
		hoist_store_free(s2);
	}

	/* an index whose other platform's manifest is absent (docker save, containerd store) */
	{
		char missing[HOIST_DIGEST_MAX], idxd[HOIST_DIGEST_MAX];
		hoist_sha256_digest("absent", 6, missing);
		json_t *idx =
		    json_pack("{s:i,s:s,s:[{s:s,s:s,s:I,s:{s:s,s:s}},{s:s,s:s,s:i,s:{s:s,s:s}}]}",
			      "schemaVersion", 2, "mediaType", HOIST_MT_OCI_INDEX, "manifests",
			      "mediaType", HOIST_MT_OCI_MANIFEST, "digest", man.digest, "size",
			      (json_int_t)man.size, "platform", "os", "linux", "architecture",
			      "amd64", "mediaType", HOIST_MT_OCI_MANIFEST, "digest", missing,
			      "size", 6, "platform", "os", "linux", "architecture", "arm64");
		_cleanup_free_ char *s = hoist_json_canonical(idx);
		json_decref(idx);
		hoist_sha256_digest(s, strlen(s), idxd);
		_cleanup_free_ char *ip =
		    hoist_xasprintf("%s/layout/blobs/sha256/%s", tmpdir, idxd + 7);
		int ifd = open(ip, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		hoist_write_all(ifd, s, strlen(s));
		close(ifd);
		_cleanup_free_ char *top = hoist_xasprintf(
		    "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"%s\",\"digest\":\"%s\","
		    "\"size\":%zu,\"annotations\":{\"io.containerd.image.name\":\"multi:1\"}}]}",
		    HOIST_MT_OCI_INDEX, idxd, strlen(s));
		_cleanup_free_ char *tp = hoist_xasprintf("%s/layout/index.json", tmpdir);
		ifd = open(tp, O_WRONLY | O_TRUNC | O_CLOEXEC);
		hoist_write_all(ifd, top, strlen(top));
		close(ifd);
		_cleanup_free_ char *lp = hoist_xasprintf("%s/layout", tmpdir);
		_cleanup_free_ char *r4 = hoist_xasprintf("%s/store-multi", tmpdir);
		struct hoist_store *s4 = NULL;
		char **got4 = NULL;
		char tagged[HOIST_DIGEST_MAX] = "";
		hoist_store_open(r4, &s4, NULL);
		rc = hoist_oci_import(s4, lp, &got4, &err);
		hoist_store_tag_get(s4, "docker.io/library/multi:1", tagged, NULL);
		tap_ok(rc == 0 && !strcmp(tagged, idxd),
		       "index with an absent platform imports the present one (%s)", err.msg);
		hoist_strv_free(got4);
		hoist_store_free(s4);
	}

	/* corrupt a blob of the layout: import must refuse it */
	_cleanup_free_ char *blob =
	    hoist_xasprintf("%s/layout/blobs/sha256/%s", tmpdir, layer.digest + 7);
	int fd = open(blob, O_WRONLY | O_TRUNC | O_CLOEXEC);
	hoist_write_all(fd, "garbage", 7);
	close(fd);
	_cleanup_free_ char *layout = hoist_xasprintf("%s/layout", tmpdir);
	_cleanup_free_ char *root3 = hoist_xasprintf("%s/store-bad", tmpdir);
	struct hoist_store *s3 = NULL;
	char **got = NULL;
	hoist_store_open(root3, &s3, NULL);
	rc = hoist_oci_import(s3, layout, &got, &err);
	tap_ok(rc == -EBADMSG, "corrupt blob in a layout is refused: %s", err.msg);
	hoist_store_free(s3);
}

static void test_merge(void)
{
	struct hoist_image img;
	struct hoist_descriptor m1, m2;
	struct hoist_error err = {0};
	_cleanup_free_ char *dest = hoist_xasprintf("%s/merged", tmpdir);

	hoist_image_init(&img);
	hoist_image_commit(store, &img, &m1, &err);
	json_object_set_new(img.config, "author", json_string("x"));
	hoist_image_commit(store, &img, &m2, &err);
	hoist_image_release(&img);
	const char *n1[] = {"a:one", NULL}, *n2[] = {"b:two", NULL}, *n3[] = {"c:one", NULL};
	struct hoist_export_item it = {{0}, n1};
	memcpy(it.digest, m1.digest, sizeof(it.digest));
	hoist_oci_export(store, HOIST_ARCHIVE_OCI_DIR, dest, &it, 1, &err);
	it.names = n2;
	hoist_oci_export(store, HOIST_ARCHIVE_OCI_DIR, dest, &it, 1, &err);
	memcpy(it.digest, m2.digest, sizeof(it.digest));
	it.names = n3;
	int rc = hoist_oci_export(store, HOIST_ARCHIVE_OCI_DIR, dest, &it, 1, &err);
	_cleanup_free_ char *idx = hoist_xasprintf("%s/index.json", dest);
	char *data = NULL;
	size_t len;
	hoist_read_file_at(AT_FDCWD, idx, 1 << 20, &data, &len, NULL);
	json_t *j = data ? json_loadb(data, len, 0, NULL) : NULL;
	json_t *ms = json_object_get(j, "manifests");
	tap_ok(rc == 0 && json_array_size(ms) == 2, "export merges into an existing layout (%zu)",
	       json_array_size(ms));
	free(data);
	json_decref(j);
}

/* Text from outside as a JSON string: invalid UTF-8 bytes become U+FFFD. */
static void test_json_text(void)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
	    {"plain", "\"plain\""},
	    {"F\xc5\x91", "\"F\xc5\x91\""},
	    {"caf\xe9", "\"caf\xef\xbf\xbd\""},
	    {"\xc0\xaf", "\"\xef\xbf\xbd\xef\xbf\xbd\""},		  /* overlong '/' */
	    {"\xed\xa0\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""}, /* surrogate */
	    {"\xf0\x9f\x98\x80!", "\"\xf0\x9f\x98\x80!\""},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		json_t *j = hoist_json_text(cases[i].in);
		char *d = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
		tap_ok(d && !strcmp(d, cases[i].want), "json text %zu: %s", i, d ? d : "(null)");
		free(d);
		json_decref(j);
	}
}

int main(void)
{
	tap_plan_auto();
	const char *corpora = tap_corpora("oci-image-spec/real-layouts");
	test_json_text();
	store = tmpstore_open(tmpdir, "store");
	if (!store)
		return tap_done();
	test_platforms();
	test_real_layouts(corpora);
	test_commit_and_exchange();
	test_merge();
	tmpstore_close(store, tmpdir);
	return tap_done();
}
