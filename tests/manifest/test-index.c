/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Multi-arch pieces that need no server: Docker's platform spellings, the
 * index serialiser, hoist_index_create() on a real store, and the
 * manifest-tool spec parser.
 */
#include <errno.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "hoist/oci.h"
#include "hoist/registry.h"
#include "hoist/store.h"
#include "hoist/util.h"
#include "tap.h"
#include "tmpstore.h"

static void test_platforms(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	    {"aarch64", "linux/arm64"},
	    {"linux/aarch64", "linux/arm64"},
	    {"arm64", "linux/arm64"},
	    {"arm64/v8", "linux/arm64"},
	    {"linux/arm64/v8", "linux/arm64"},
	    {"armhf", "linux/arm/v7"},
	    {"linux/armhf", "linux/arm/v7"},
	    {"armel", "linux/arm/v6"},
	    {"arm/v6", "linux/arm/v6"},
	    {"linux/arm/v6", "linux/arm/v6"},
	    {"arm/v7", "linux/arm/v7"},
	    {"linux/arm", "linux/arm/v7"},
	    {"arm", "linux/arm/v7"},
	    {"linux/arm/7", "linux/arm/v7"},
	    {"riscv64", "linux/riscv64"},
	    {"linux/riscv64", "linux/riscv64"},
	    {"ppc64le", "linux/ppc64le"},
	    {"linux/ppc64le", "linux/ppc64le"},
	    {"s390x", "linux/s390x"},
	    {"linux/s390x", "linux/s390x"},
	    {"i386", "linux/386"},
	    {"386", "linux/386"},
	    {"linux/i386", "linux/386"},
	    {"linux/386", "linux/386"},
	    {"x86_64", "linux/amd64"},
	    {"linux/x86_64", "linux/amd64"},
	    {"x86-64", "linux/amd64"},
	    {"amd64", "linux/amd64"},
	    {"LINUX/AMD64", "linux/amd64"},
	    {"linux/amd64/v1", "linux/amd64"},
	    {"linux/amd64/v3", "linux/amd64/v3"},
	    {"windows/amd64", "windows/amd64"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct hoist_platform p;
		struct hoist_error err = {0};
		char buf[128] = "";
		int r = hoist_platform_parse(cases[i].in, &p, &err);
		if (r == 0)
			hoist_platform_format(&p, buf, sizeof(buf));
		tap_ok(r == 0 && strcmp(buf, cases[i].out) == 0, "platform '%s' -> '%s' (got '%s')",
		       cases[i].in, cases[i].out, r == 0 ? buf : err.msg);
	}
	static const char *const bad[] = {
	    "", "/", "linux/", "a/b/c/d", "linux/arm64/v8/x", "li nux/amd64"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct hoist_platform p;
		tap_ok(hoist_platform_parse(bad[i], &p, NULL) == -EINVAL, "platform '%s' rejected",
		       bad[i]);
	}
	/* Equal after normalisation: what matching an index entry relies on. */
	struct hoist_platform a, b;
	hoist_platform_parse("linux/arm64/v8", &a, NULL);
	hoist_platform_parse("aarch64", &b, NULL);
	tap_ok(hoist_platform_equal(&a, &b), "linux/arm64/v8 equals aarch64");
}

static void entry(struct hoist_index_entry *e, const char *plat, char fill)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->desc.media_type, sizeof(e->desc.media_type), "%s", HOIST_MT_OCI_MANIFEST);
	snprintf(e->desc.digest, sizeof(e->desc.digest), "sha256:");
	memset(e->desc.digest + 7, fill, 64);
	e->desc.size = 123;
	hoist_platform_parse(plat, &e->platform, NULL);
}

static void test_build(void)
{
	struct hoist_index_entry e[3];
	struct hoist_error err = {0};
	_cleanup_free_ char *json = NULL;
	size_t len = 0;
	const char *ann[] = {"org.opencontainers.image.source=https://example.org/x", "k=a=b",
			     NULL};

	entry(&e[0], "linux/amd64", 'a');
	entry(&e[1], "arm64", 'b');
	entry(&e[2], "armhf", 'c');
	int r = hoist_index_build(e, 3, HOIST_INDEX_OCI, ann, &json, &len, &err);
	tap_ok(r == 0, "build an OCI index (%s)", err.msg);
	json_auto_t *doc = json ? json_loadb(json, len, 0, NULL) : NULL;
	json_t *m = json_object_get(doc, "manifests");
	tap_ok(json_array_size(m) == 3, "three entries");
	tap_ok(
	    !strcmp(json_string_value(json_object_get(doc, "mediaType")) ?: "", HOIST_MT_OCI_INDEX),
	    "OCI media type");
	json_t *p2 = json_object_get(json_array_get(m, 2), "platform");
	tap_ok(!strcmp(json_string_value(json_object_get(p2, "architecture")) ?: "", "arm") &&
		   !strcmp(json_string_value(json_object_get(p2, "variant")) ?: "", "v7") &&
		   !strcmp(json_string_value(json_object_get(p2, "os")) ?: "", "linux"),
	       "armhf recorded as linux/arm/v7");
	tap_ok(!json_object_get(json_object_get(json_array_get(m, 1), "platform"), "variant"),
	       "arm64 carries no variant");
	tap_ok(json_integer_value(json_object_get(json_array_get(m, 0), "size")) == 123,
	       "entry size kept");
	json_t *an = json_object_get(doc, "annotations");
	tap_ok(!strcmp(json_string_value(json_object_get(an, "k")) ?: "", "a=b") &&
		   json_object_size(an) == 2,
	       "annotations split at the first '='");

	/* Same input, same bytes: indexes are reproducible. */
	_cleanup_free_ char *again = NULL;
	size_t len2 = 0;
	hoist_index_build(e, 3, HOIST_INDEX_OCI, ann, &again, &len2, NULL);
	tap_ok(again && len == len2 && !memcmp(json, again, len), "deterministic output");

	_cleanup_free_ char *d = NULL;
	r = hoist_index_build(e, 3, HOIST_INDEX_DOCKER, NULL, &d, &len, &err);
	tap_ok(r == 0 && strstr(d, HOIST_MT_DOCKER_LIST), "Docker manifest list");
	_cleanup_free_ char *x = NULL;
	tap_ok(hoist_index_build(e, 3, HOIST_INDEX_DOCKER, ann, &x, &len, NULL) == -EINVAL,
	       "Docker list refuses annotations");
	const char *badann[] = {"=v", NULL};
	tap_ok(hoist_index_build(e, 3, HOIST_INDEX_OCI, badann, &x, &len, NULL) == -EINVAL,
	       "annotation without key refused");
	tap_ok(hoist_index_build(e, 0, HOIST_INDEX_OCI, NULL, &x, &len, NULL) == -EINVAL,
	       "empty index refused");

	/* Two images for one platform: refused; the same image twice: listed once. */
	struct hoist_index_entry dup[2];
	entry(&dup[0], "linux/arm64", 'a');
	entry(&dup[1], "aarch64", 'b');
	r = hoist_index_build(dup, 2, HOIST_INDEX_OCI, NULL, &x, &len, &err);
	tap_ok(r == -EINVAL && strstr(err.msg, "twice"), "duplicate platform refused (%s)",
	       err.msg);
	entry(&dup[1], "linux/arm64", 'a');
	_cleanup_free_ char *once = NULL;
	r = hoist_index_build(dup, 2, HOIST_INDEX_OCI, NULL, &once, &len, NULL);
	json_auto_t *od = once ? json_loads(once, 0, NULL) : NULL;
	tap_ok(r == 0 && json_array_size(json_object_get(od, "manifests")) == 1,
	       "same image twice listed once");

	struct hoist_index_entry nested;
	entry(&nested, "linux/amd64", 'd');
	snprintf(nested.desc.media_type, sizeof(nested.desc.media_type), "%s", HOIST_MT_OCI_INDEX);
	tap_ok(hoist_index_build(&nested, 1, HOIST_INDEX_OCI, NULL, &x, &len, NULL) == -EINVAL,
	       "an index cannot be an entry");
}

/* A config + manifest in the store for one platform; returns the manifest digest. */
static void put_image(struct hoist_store *s, const char *os, const char *arch, const char *variant,
		      char out[HOIST_DIGEST_MAX])
{
	char cd[HOIST_DIGEST_MAX];
	json_auto_t *cfg = json_pack("{s:s, s:s, s:{s:s, s:[]}}", "os", os, "architecture", arch,
				     "rootfs", "type", "layers", "diff_ids");
	if (variant)
		json_object_set_new(cfg, "variant", json_string(variant));
	_cleanup_free_ char *c = hoist_json_canonical(cfg);
	hoist_store_blob_put(s, c, strlen(c), cd, NULL);
	json_auto_t *man =
	    json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:[]}", "schemaVersion", 2, "mediaType",
		      HOIST_MT_OCI_MANIFEST, "config", "mediaType", HOIST_MT_OCI_CONFIG, "digest",
		      cd, "size", (json_int_t)strlen(c), "layers");
	_cleanup_free_ char *m = hoist_json_canonical(man);
	hoist_store_blob_put(s, m, strlen(m), out, NULL);
}

static void test_create(void)
{
	char dir[] = "/tmp/hoist-test-index-XXXXXX";
	struct hoist_store *s = NULL;
	struct hoist_error err = {0};
	struct hoist_index_item it[3] = {0};
	struct hoist_descriptor idx, idx2;

	if (!mkdtemp(dir)) {
		tap_ok(false, "mkdtemp");
		return;
	}
	tap_ok(hoist_store_open(dir, &s, &err) == 0, "open a store (%s)", err.msg);
	if (!s)
		return;
	put_image(s, "linux", "amd64", NULL, it[0].digest);
	put_image(s, "linux", "aarch64", NULL, it[1].digest); /* normalised on the way */
	put_image(s, "linux", "arm", "v7", it[2].digest);
	int r = hoist_index_create(s, it, 3, HOIST_INDEX_OCI, NULL, &idx, &err);
	tap_ok(r == 0, "index from the store (%s)", err.msg);
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	hoist_store_blob_read(s, idx.digest, 1 << 20, &data, &len, NULL);
	json_auto_t *doc = data ? json_loadb(data, len, 0, NULL) : NULL;
	json_t *m = json_object_get(doc, "manifests");
	tap_ok(json_array_size(m) == 3 && (int64_t)len == idx.size &&
		   !strcmp(idx.media_type, HOIST_MT_OCI_INDEX),
	       "index stored with three entries");
	tap_ok(!strcmp(json_string_value(json_object_get(
			   json_object_get(json_array_get(m, 1), "platform"), "architecture"))
			   ?: "",
		       "arm64"),
	       "aarch64 config listed as arm64");
	tap_ok(json_integer_value(json_object_get(json_array_get(m, 0), "size")) ==
		   hoist_store_blob_size(s, it[0].digest),
	       "entry size is the manifest's");

	/* An index item is flattened; a platform override wins over the config. */
	struct hoist_platform ov;
	hoist_platform_parse("linux/arm/v6", &ov, NULL);
	struct hoist_index_item two[2] = {0};
	memcpy(two[0].digest, idx.digest, sizeof(idx.digest));
	put_image(s, "linux", "arm", "v7", two[1].digest);
	two[1].platform = &ov;
	/* Same manifest as it[2] but now labelled v6: a different platform. */
	r = hoist_index_create(s, two, 2, HOIST_INDEX_DOCKER, NULL, &idx2, &err);
	tap_ok(r == 0 && !strcmp(idx2.media_type, HOIST_MT_DOCKER_LIST),
	       "index + override -> Docker list (%s)", err.msg);
	_cleanup_free_ char *d2 = NULL;
	hoist_store_blob_read(s, idx2.digest, 1 << 20, &d2, &len, NULL);
	json_auto_t *doc2 = d2 ? json_loadb(d2, len, 0, NULL) : NULL;
	json_t *m2 = json_object_get(doc2, "manifests");
	tap_ok(json_array_size(m2) == 4 &&
		   !strcmp(json_string_value(json_object_get(
			       json_object_get(json_array_get(m2, 3), "platform"), "variant"))
			       ?: "",
			   "v6"),
	       "flattened entries plus the v6 override");

	struct hoist_index_item missing = {0};
	snprintf(missing.digest, sizeof(missing.digest), "sha256:%064d", 0);
	tap_ok(hoist_index_create(s, &missing, 1, HOIST_INDEX_OCI, NULL, &idx2, &err) < 0,
	       "missing manifest is an error (%s)", err.msg);
	struct hoist_index_item same[2] = {0};
	memcpy(same[0].digest, it[1].digest, sizeof(it[1].digest));
	put_image(s, "linux", "arm64", "v8", same[1].digest);
	r = hoist_index_create(s, same, 2, HOIST_INDEX_OCI, NULL, &idx2, &err);
	tap_ok(r == -EINVAL, "two arm64 images refused (%s)", err.msg);

	tmpstore_close(s, dir);
}

static void test_spec(void)
{
	static const char good[] = "# manifest-tool spec\n"
				   "image: 127.0.0.1:5000/multi:latest\n"
				   "tags: ['1.0', v1]\n"
				   "manifests:\n"
				   "  - image: 127.0.0.1:5000/multi:amd64\n"
				   "    platform:\n"
				   "      architecture: amd64\n"
				   "      os: linux\n"
				   "  - image: 127.0.0.1:5000/multi:arm\n"
				   "    platform: {architecture: arm, os: linux, variant: v6}\n"
				   "    unknown: ignored\n"
				   "  - image: 127.0.0.1:5000/multi:arm64\n";
	struct hoist_spec spec;
	struct hoist_error err = {0};
	int r = hoist_spec_parse(good, strlen(good), "spec.yml", &spec, &err);
	tap_ok(r == 0, "parse a manifest-tool spec (%s)", err.msg);
	tap_ok(spec.image && !strcmp(spec.image, "127.0.0.1:5000/multi:latest"), "image");
	tap_ok(spec.tags.n == 2 && !strcmp(spec.tags.v[0], "1.0"), "tags");
	tap_ok(spec.n_parts == 3, "three parts");
	if (spec.n_parts == 3) {
		char pf[64];
		hoist_platform_format(&spec.parts[1].platform, pf, sizeof(pf));
		tap_ok(spec.parts[0].has_platform && !strcmp(pf, "linux/arm/v6") &&
			   spec.parts[1].line == 9,
		       "platform of part 2 (%s, line %d)", pf, spec.parts[1].line);
		tap_ok(!spec.parts[2].has_platform, "part 3 has no platform (read from config)");
	}
	hoist_spec_release(&spec);

	static const struct {
		const char *doc, *want;
		int line;
	} bad[] = {
	    {"", "empty", 0},
	    {"image: [x\n", "invalid YAML", 2},
	    {"- a\n- b\n", "mapping", 1},
	    {"manifests: []\n", "missing 'image'", 1},
	    {"image: x\n", "missing 'manifests'", 1},
	    {"image: x\nmanifests: []\n", "empty", 2},
	    {"image: x\nmanifests:\n  - platform: {os: linux, architecture: arm64}\n",
	     "missing 'image'", 3},
	    {"image: x\nmanifests:\n  - image: y\n    platform: {os: linux}\n",
	     "missing 'architecture'", 4},
	    {"image: x\nmanifests:\n  - image: y\n    platform: {os: linux, architecture: 'a b'}\n",
	     "invalid platform", 4},
	    {"image: {a: b}\nmanifests: [{image: y}]\n", "must be a string", 1},
	    {"image: x\ntags: v1\nmanifests: [{image: y}]\n", "must be a list", 2},
	    {"image: x\nmanifests: [{image: y, platform: linux/arm64}]\n", "must be a mapping", 2},
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct hoist_error e = {0};
		r = hoist_spec_parse(bad[i].doc, strlen(bad[i].doc), "s.yml", &spec, &e);
		tap_ok(r < 0 && strstr(e.msg, bad[i].want) &&
			   (bad[i].line == 0 || e.line == bad[i].line),
		       "bad spec %zu: '%s' at line %d (got '%s' at %d)", i, bad[i].want,
		       bad[i].line, e.msg, e.line);
		hoist_spec_release(&spec);
	}

	/* Bounded: too many parts, too large. */
	struct hoist_buf b = HOIST_BUF_INIT;
	hoist_buf_adds(&b, "image: x\nmanifests:\n");
	for (int i = 0; i <= HOIST_SPEC_MAX_PARTS; i++)
		hoist_buf_addf(&b, "  - image: y%d\n", i);
	r = hoist_spec_parse(b.data, b.len, "s.yml", &spec, &err);
	tap_ok(r == -EBADMSG && strstr(err.msg, "too many"), "too many parts refused");
	hoist_spec_release(&spec);
	hoist_buf_release(&b);
	_cleanup_free_ char *big = hoist_xcalloc(HOIST_SPEC_MAX_SIZE + 2, 1);
	memset(big, '#', HOIST_SPEC_MAX_SIZE + 1);
	r = hoist_spec_parse(big, HOIST_SPEC_MAX_SIZE + 1, "s.yml", &spec, &err);
	tap_ok(r == -EFBIG, "oversized spec refused");
	hoist_spec_release(&spec);
}

int main(void)
{
	tap_plan_auto();
	test_platforms();
	test_build();
	test_create();
	test_spec();
	return tap_done();
}
