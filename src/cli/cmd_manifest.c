/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hoist manifest SUBCOMMAND: multi-platform indexes, made in the store
 * (create), shown (inspect) and pushed (push, or push --from-spec to join
 * images already in a registry), plus an existence check. One row of the
 * table per subcommand.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "hoist/oci.h"
#include "hoist/ref.h"
#include "hoist/registry.h"
#include "hoist/store.h"

struct manifest_sub {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv);
};

static void exists_usage(FILE *f)
{
	fprintf(f,
		"Usage: hoist manifest exists [OPTIONS] REF\n\n"
		"Ask the registry (HEAD only) whether REF exists: exit 0 if it does, 1 if\n"
		"not, 2 on a usage error; other failures print an error and exit 1.\n\n"
		"Options:\n"
		"  -q, --quiet               print nothing (default prints the digest)\n"
		"%s"
		"  -h, --help                print this help\n",
		cli_registry_options_help());
}

static int manifest_exists(int argc, char **argv)
{
	struct cli_registry reg;
	struct hoist_error err = {0};
	const char *ref = NULL;
	char digest[HOIST_DIGEST_MAX] = "";
	bool quiet = false;
	int r;

	cli_registry_init(&reg);
	reg.progress_mode = "quiet";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (cli_is_help(a)) {
			exists_usage(stdout);
			cli_registry_release(&reg);
			return HOIST_EXIT_OK;
		}
		r = cli_registry_arg(&reg, "manifest exists", argc, argv, &i);
		if (r < 0)
			goto usage_fail;
		if (r > 0)
			continue;
		if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
			quiet = true;
		} else if (a[0] == '-' && a[1]) {
			cli_usage_error("manifest exists", "unknown option '%s'", a);
			goto usage_fail;
		} else if (!ref) {
			ref = a;
		} else {
			cli_usage_error("manifest exists", "too many arguments");
			goto usage_fail;
		}
	}
	if (!ref) {
		cli_usage_error("manifest exists", "missing image reference");
		goto usage_fail;
	}
	r = hoist_registry_manifest_exists(cli_registry_finish(&reg), ref, digest, &err);
	cli_registry_release(&reg);
	if (r < 0)
		return cli_fail(&err);
	if (r > 0 && !quiet && digest[0])
		printf("%s\n", digest);
	return r > 0 ? HOIST_EXIT_OK : HOIST_EXIT_FAIL;

usage_fail:
	cli_registry_release(&reg);
	return HOIST_EXIT_USAGE;
}

/* ---- create ---------------------------------------------------------------- */

static void create_usage(FILE *f)
{
	fprintf(f, "Usage: hoist manifest create [OPTIONS] NAME REF...\n\n"
		   "Join images of the store (names or digests; an index contributes its\n"
		   "entries) into one multi-platform index, tag it NAME and print its digest.\n"
		   "Each image's platform comes from its config (os, architecture, variant).\n\n"
		   "Options:\n"
		   "  --format oci|docker       an OCI image index (default) or a Docker\n"
		   "                            manifest list\n"
		   "  --annotation KEY=VALUE    an annotation of the index (OCI only; repeatable)\n"
		   "  -h, --help                print this help\n");
}

static int parse_format(const char *cmd, const char *v, enum hoist_index_format *ret)
{
	if (strcmp(v, "oci") == 0)
		*ret = HOIST_INDEX_OCI;
	else if (strcmp(v, "docker") == 0)
		*ret = HOIST_INDEX_DOCKER;
	else
		return cli_usage_error(cmd, "unknown format '%s' (expected 'oci' or 'docker')", v);
	return 0;
}

/* --format / --annotation, shared by create and push: 1 taken, 0 not ours, < 0 usage error. */
static int index_arg(const char *cmd, int argc, char **argv, int *i, enum hoist_index_format *fmt,
		     bool *fmt_set, struct hoist_strv *annotations)
{
	const char *a = argv[*i], *v = NULL;
	bool is_format = false;

	if (strcmp(a, "--format") == 0 || strcmp(a, "--annotation") == 0) {
		if (*i + 1 >= argc) {
			cli_usage_error(cmd, "option '%s' needs a value", a);
			return -1;
		}
		is_format = a[2] == 'f';
		v = argv[++*i];
	} else if (hoist_startswith(a, "--format=")) {
		is_format = true;
		v = a + strlen("--format=");
	} else if (hoist_startswith(a, "--annotation=")) {
		v = a + strlen("--annotation=");
	} else {
		return 0;
	}
	if (is_format) {
		if (parse_format(cmd, v, fmt) != 0)
			return -1;
		*fmt_set = true;
		return 1;
	}
	if (!strchr(v, '=') || v[0] == '=') {
		cli_usage_error(cmd, "annotation '%s' is not KEY=VALUE", v);
		return -1;
	}
	hoist_strv_push(annotations, v);
	return 1;
}

static int manifest_create(int argc, char **argv)
{
	_cleanup_strv_ struct hoist_strv annotations = HOIST_STRV_INIT;
	_cleanup_free_ struct hoist_index_item *items = NULL;
	enum hoist_index_format fmt = HOIST_INDEX_OCI;
	struct hoist_error err = {0};
	struct hoist_descriptor idx;
	struct hoist_ref ref = {0};
	const char *name = NULL;
	bool fmt_set = false;
	size_t n = 0;
	int r;

	items = hoist_xcalloc((size_t)argc, sizeof(*items));
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (cli_is_help(a)) {
			create_usage(stdout);
			return HOIST_EXIT_OK;
		}
		r = index_arg("manifest create", argc, argv, &i, &fmt, &fmt_set, &annotations);
		if (r < 0)
			return HOIST_EXIT_USAGE;
		if (r > 0)
			continue;
		if (a[0] == '-' && a[1])
			return cli_usage_error("manifest create", "unknown option '%s'", a);
		if (!name)
			name = a;
		else
			n++; /* resolved once the store is open */
	}
	if (!name || n == 0)
		return cli_usage_error("manifest create", "expected NAME and at least one REF");
	if (hoist_ref_parse(name, &ref, &err) < 0)
		return cli_fail(&err);
	if (ref.digest) {
		hoist_ref_release(&ref);
		return cli_usage_error("manifest create", "NAME cannot have a digest: '%s'", name);
	}
	hoist_ref_release(&ref);

	struct hoist_store *s = cli_store_open();
	if (!s)
		return HOIST_EXIT_FAIL;
	/* Shared lock from the index blob to its tag: gc cannot sweep it in between. */
	r = hoist_store_lock(s, false, &err);
	if (r < 0)
		goto out;
	size_t k = 0;
	for (int i = 1; i < argc && r >= 0; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--format") == 0 || strcmp(a, "--annotation") == 0) {
			i++;
			continue;
		}
		if (a == name || (a[0] == '-' && a[1]))
			continue;
		r = hoist_store_resolve(s, a, items[k++].digest, &err);
	}
	if (r >= 0)
		r = hoist_index_create(s, items, n, fmt, (const char *const *)annotations.v, &idx,
				       &err);
	if (r >= 0)
		r = hoist_store_tag_set(s, name, idx.digest, &err);
	hoist_store_unlock(s);
	if (r >= 0)
		printf("%s\n", idx.digest);
out:
	hoist_store_free(s);
	return r < 0 ? cli_fail(&err) : HOIST_EXIT_OK;
}

/* ---- inspect --------------------------------------------------------------- */

static void inspect_usage(FILE *f)
{
	fprintf(f,
		"Usage: hoist manifest inspect [OPTIONS] REF\n\n"
		"Print the manifest or index REF names: an image of the store, or\n"
		"docker://REF in a registry (nothing is pulled).\n\n"
		"Options:\n"
		"  --raw                     the exact bytes (default: indented JSON)\n"
		"%s"
		"  -h, --help                print this help\n",
		cli_registry_options_help());
}

static int manifest_inspect(int argc, char **argv)
{
	struct cli_registry reg;
	struct hoist_error err = {0};
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	const char *ref = NULL;
	bool raw = false;
	int r;

	cli_registry_init(&reg);
	reg.progress_mode = "quiet";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (cli_is_help(a)) {
			inspect_usage(stdout);
			cli_registry_release(&reg);
			return HOIST_EXIT_OK;
		}
		r = cli_registry_arg(&reg, "manifest inspect", argc, argv, &i);
		if (r < 0)
			goto usage_fail;
		if (r > 0)
			continue;
		if (strcmp(a, "--raw") == 0) {
			raw = true;
		} else if (a[0] == '-' && a[1]) {
			cli_usage_error("manifest inspect", "unknown option '%s'", a);
			goto usage_fail;
		} else if (!ref) {
			ref = a;
		} else {
			cli_usage_error("manifest inspect", "too many arguments");
			goto usage_fail;
		}
	}
	if (!ref) {
		cli_usage_error("manifest inspect", "missing image reference");
		goto usage_fail;
	}
	if (hoist_startswith(ref, "docker://")) {
		struct hoist_registry_manifest m = {0};
		r = hoist_registry_inspect(cli_registry_finish(&reg), ref + strlen("docker://"), &m,
					   &err);
		data = TAKE_PTR(m.data);
		len = m.len;
	} else {
		char digest[HOIST_DIGEST_MAX];
		struct hoist_store *s = cli_store_open();
		if (!s) {
			cli_registry_release(&reg);
			return HOIST_EXIT_FAIL;
		}
		r = hoist_store_resolve(s, ref, digest, &err);
		if (r >= 0)
			r = hoist_store_blob_read(s, digest, HOIST_MAX_JSON_BLOB, &data, &len,
						  &err);
		hoist_store_free(s);
	}
	cli_registry_release(&reg);
	if (r < 0)
		return cli_fail(&err);
	if (raw) {
		fwrite(data, 1, len, stdout);
	} else {
		json_auto_t *doc = json_loadb(data, len, 0, NULL);
		_cleanup_free_ char *pretty =
		    doc ? json_dumps(doc, JSON_INDENT(3) | JSON_PRESERVE_ORDER) : NULL;
		if (!pretty) {
			hoist_error_set(&err, -EBADMSG, "'%s' is not JSON", ref);
			return cli_fail(&err);
		}
		printf("%s\n", pretty);
	}
	return fflush(stdout) == 0 ? HOIST_EXIT_OK : HOIST_EXIT_FAIL;

usage_fail:
	cli_registry_release(&reg);
	return HOIST_EXIT_USAGE;
}

/* ---- push ------------------------------------------------------------------ */

static void push_usage(FILE *f)
{
	fprintf(f,
		"Usage: hoist manifest push [OPTIONS] NAME [DEST_REF]\n"
		"       hoist manifest push [OPTIONS] --from-spec FILE.yml\n\n"
		"Push a local index (made by 'hoist manifest create'): every platform\n"
		"image's blobs and manifest, then the index, to DEST_REF or where NAME says.\n"
		"With --from-spec, read a manifest-tool YAML spec ('image:' and\n"
		"'manifests:' with 'platform:') and join images already in the registry\n"
		"into one index without pulling them; only the index is pushed.\n"
		"Prints the index digest.\n\n"
		"Options:\n"
		"  --from-spec FILE          the manifest-tool spec to push\n"
		"  --format oci|docker       with --from-spec: the index format (default: a\n"
		"                            Docker list when every part is a Docker manifest)\n"
		"  --annotation KEY=VALUE    with --from-spec: an index annotation (OCI only)\n"
		"%s"
		"  -h, --help                print this help\n",
		cli_registry_options_help());
}

static int push_spec(struct cli_registry *reg, const char *file, const enum hoist_index_format *fmt,
		     const char *const *annotations, char digest[HOIST_DIGEST_MAX],
		     struct hoist_error *err)
{
	_cleanup_free_ char *data = NULL;
	struct hoist_spec spec;
	size_t len = 0;
	int r;

	r = hoist_read_file_at(AT_FDCWD, file, HOIST_SPEC_MAX_SIZE, &data, &len, err);
	if (r < 0)
		return r;
	r = hoist_spec_parse(data, len, file, &spec, err);
	if (r >= 0)
		r = hoist_registry_push_spec(cli_registry_finish(reg), &spec, fmt, annotations,
					     digest, err);
	hoist_spec_release(&spec);
	return r;
}

static int manifest_push(int argc, char **argv)
{
	_cleanup_strv_ struct hoist_strv annotations = HOIST_STRV_INIT;
	enum hoist_index_format fmt = HOIST_INDEX_OCI;
	struct cli_registry reg;
	struct hoist_error err = {0};
	const char *src = NULL, *dest = NULL, *spec = NULL;
	char digest[HOIST_DIGEST_MAX] = "";
	bool fmt_set = false;
	int r;

	cli_registry_init(&reg);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (cli_is_help(a)) {
			push_usage(stdout);
			cli_registry_release(&reg);
			return HOIST_EXIT_OK;
		}
		r = cli_registry_arg(&reg, "manifest push", argc, argv, &i);
		if (r == 0)
			r = index_arg("manifest push", argc, argv, &i, &fmt, &fmt_set,
				      &annotations);
		if (r < 0)
			goto usage_fail;
		if (r > 0)
			continue;
		if (strcmp(a, "--from-spec") == 0 && i + 1 < argc) {
			spec = argv[++i];
		} else if (hoist_startswith(a, "--from-spec=")) {
			spec = a + strlen("--from-spec=");
		} else if (a[0] == '-' && a[1]) {
			cli_usage_error("manifest push", "unknown option '%s'", a);
			goto usage_fail;
		} else if (!src) {
			src = a;
		} else if (!dest) {
			dest = a;
		} else {
			cli_usage_error("manifest push", "too many arguments");
			goto usage_fail;
		}
	}
	if (spec && src) {
		cli_usage_error("manifest push", "--from-spec takes no NAME");
		goto usage_fail;
	}
	if (!spec && !src) {
		cli_usage_error("manifest push", "missing NAME or --from-spec FILE");
		goto usage_fail;
	}
	if (!spec && (fmt_set || annotations.n > 0)) {
		cli_usage_error("manifest push", "--format and --annotation go with --from-spec "
						 "(or with 'manifest create')");
		goto usage_fail;
	}
	if (spec) {
		r = push_spec(&reg, spec, fmt_set ? &fmt : NULL, (const char *const *)annotations.v,
			      digest, &err);
	} else {
		struct hoist_store *s = cli_registry_store_open();
		if (!s) {
			cli_registry_release(&reg);
			return HOIST_EXIT_FAIL;
		}
		r = hoist_registry_push(s, cli_registry_finish(&reg), src, dest, digest, &err);
		hoist_store_free(s);
	}
	cli_registry_done(&reg);
	cli_registry_release(&reg);
	if (r < 0)
		return cli_fail(&err);
	printf("%s\n", digest);
	return HOIST_EXIT_OK;

usage_fail:
	cli_registry_release(&reg);
	return HOIST_EXIT_USAGE;
}

static const struct manifest_sub subs[] = {
    {"create", "Join images of the store into one multi-platform index", manifest_create},
    {"exists", "Exit 0 if a manifest exists in a registry, 1 if not", manifest_exists},
    {"inspect", "Print a manifest or index (local, or docker://REF)", manifest_inspect},
    {"push", "Push a local index, or join remote images (--from-spec)", manifest_push},
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: hoist manifest SUBCOMMAND [OPTIONS]\n\nSubcommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(subs); i++)
		fprintf(f, "  %-10s %s\n", subs[i].name, subs[i].summary);
	fprintf(f, "\nRun 'hoist manifest SUBCOMMAND --help' for its options.\n");
}

int cmd_manifest(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return HOIST_EXIT_USAGE;
	}
	if (cli_is_help(argv[1])) {
		usage(stdout);
		return HOIST_EXIT_OK;
	}
	for (size_t i = 0; i < ARRAY_SIZE(subs); i++)
		if (strcmp(argv[1], subs[i].name) == 0)
			return subs[i].run(argc - 1, argv + 1);
	return cli_usage_error("manifest", "unknown subcommand '%s'", argv[1]);
}
