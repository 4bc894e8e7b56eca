/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hoist import ROOTFS.tar NAME[:TAG]: make a one-layer base image from a root
 * filesystem tarball, offline. Like `docker import`, the image config is
 * minimal: platform, rootfs, one history entry, and an empty "config" (no
 * Env, no Cmd); a Dockerfile adds what it needs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "hoist/layer.h"
#include "hoist/oci.h"
#include "hoist/ref.h"
#include "hoist/store.h"
#include "hoist/util.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: hoist import [OPTIONS] ROOTFS.tar NAME[:TAG]\n\n"
		   "Make a one-layer image from a root filesystem tarball (plain, gzip,\n"
		   "bzip2, xz or zstd; '-' reads stdin), tag it NAME and print its digest.\n"
		   "Entries are checked (no '..' escapes), rewritten as PAX without user\n"
		   "and group names, and gzip-compressed. With SOURCE_DATE_EPOCH set, every\n"
		   "timestamp is clamped to it and the result is reproducible.\n\n"
		   "Options:\n"
		   "  --compression gzip|zstd   layer compression (default gzip)\n"
		   "  --compression-level N     gzip 1..9 (default 6), zstd 1..19 (default 3)\n"
		   "  --platform P   os/arch[/variant] recorded in the config (default: this\n"
		   "                 machine's)\n"
		   "  -h, --help     print this help and exit\n");
}

static int parse_epoch(int64_t *ret, struct hoist_error *err)
{
	const char *s = getenv("SOURCE_DATE_EPOCH");
	uint64_t v;
	*ret = -1;
	if (!s || !*s)
		return 0;
	if (hoist_parse_u64(s, INT64_MAX, &v) < 0)
		return hoist_error_set(err, -EINVAL, "invalid SOURCE_DATE_EPOCH '%s'", s);
	*ret = (int64_t)v;
	return 0;
}

static void rfc3339(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int cmd_import(int argc, char **argv)
{
	const char *args[2];
	const char *platform_arg = NULL;
	const char *comp_arg = NULL, *level_arg = NULL;
	int nargs = 0;
	struct hoist_error err = {0};
	struct hoist_platform plat;
	struct hoist_ref ref = {0};
	_cleanup_free_ char *name = NULL;
	_cleanup_close_ int fd = -1;
	struct hoist_layer_opts opts = {0, -1};
	struct hoist_descriptor layer, man;
	char diff_id[HOIST_DIGEST_MAX], created[64];
	struct hoist_image img;
	struct hoist_store *s;
	const char *base;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			usage(stdout);
			return HOIST_EXIT_OK;
		} else if (!strcmp(argv[i], "--platform") && i + 1 < argc) {
			platform_arg = argv[++i];
		} else if (hoist_startswith(argv[i], "--platform=")) {
			platform_arg = argv[i] + strlen("--platform=");
		} else if (!strcmp(argv[i], "--compression") && i + 1 < argc) {
			comp_arg = argv[++i];
		} else if (hoist_startswith(argv[i], "--compression=")) {
			comp_arg = argv[i] + strlen("--compression=");
		} else if (!strcmp(argv[i], "--compression-level") && i + 1 < argc) {
			level_arg = argv[++i];
		} else if (hoist_startswith(argv[i], "--compression-level=")) {
			level_arg = argv[i] + strlen("--compression-level=");
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			return cli_usage_error("import", "unknown option '%s'", argv[i]);
		} else {
			if (nargs == 2)
				return cli_usage_error("import", "too many arguments");
			args[nargs++] = argv[i];
		}
	}
	if (nargs != 2)
		return cli_usage_error("import", "expected ROOTFS.tar and NAME");
	if (comp_arg && hoist_layer_compression_parse(comp_arg, &opts.compression) < 0)
		return cli_usage_error("import", "unknown compression '%s' (gzip or zstd)",
				       comp_arg);
	if (level_arg) {
		uint64_t v;
		uint64_t max = opts.compression == HOIST_LAYER_ZSTD ? 19 : 9;
		if (hoist_parse_u64(level_arg, max, &v) < 0 || v == 0)
			return cli_usage_error("import", "bad --compression-level '%s' (1..%llu)",
					       level_arg, (unsigned long long)max);
		if (opts.compression == HOIST_LAYER_ZSTD)
			opts.zstd_level = (int)v;
		else
			opts.gzip_level = (int)v;
	}
	if (platform_arg) {
		if (hoist_platform_parse_known(platform_arg, &plat, &err) < 0)
			return cli_usage_error("import", "%s", err.msg);
	} else {
		hoist_platform_host(&plat);
	}
	if (hoist_ref_parse(args[1], &ref, &err) < 0)
		return cli_fail(&err);
	if (ref.digest) {
		hoist_ref_release(&ref);
		return cli_usage_error("import", "NAME cannot have a digest: '%s'", args[1]);
	}
	name = hoist_ref_string(&ref);
	hoist_ref_release(&ref);
	if (parse_epoch(&opts.source_date_epoch, &err) < 0)
		return cli_fail(&err);

	if (!strcmp(args[0], "-"))
		fd = dup(STDIN_FILENO);
	else
		fd = open(args[0], O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		hoist_error_set(&err, -errno, "cannot open '%s': %s", args[0], strerror(errno));
		return cli_fail(&err);
	}
	s = cli_store_open();
	if (!s)
		return HOIST_EXIT_FAIL;
	/* The layer and config are unreferenced until the tag is written: keep
	 * `cache prune` out meanwhile, as build does. */
	rc = hoist_store_lock(s, false, &err);
	if (rc < 0)
		goto out_free;
	rc = hoist_layer_from_tar(s, fd, args[0], &opts, &layer, diff_id, &err);
	if (rc < 0)
		goto out;

	hoist_image_init(&img);
	json_object_set_new(img.config, "architecture", json_string(plat.architecture));
	json_object_set_new(img.config, "os", json_string(plat.os));
	if (plat.variant[0])
		json_object_set_new(img.config, "variant", json_string(plat.variant));
	else
		json_object_del(img.config, "variant");
	rfc3339(opts.source_date_epoch >= 0 ? opts.source_date_epoch : (int64_t)time(NULL), created,
		sizeof(created));
	json_object_set_new(img.config, "created", json_string(created));
	base = strrchr(args[0], '/') ? strrchr(args[0], '/') + 1 : args[0];
	hoist_image_add_layer(&img, &layer, diff_id);
	hoist_image_add_history(&img, created, NULL, false);
	json_t *h = json_array_get(json_object_get(img.config, "history"), 0);
	json_object_set_new(h, "comment", json_sprintf("Imported from %s", base));
	rc = hoist_image_commit(s, &img, &man, &err);
	hoist_image_release(&img);
	if (rc < 0)
		goto out;
	rc = hoist_store_tag_set(s, name, man.digest, &err);
	if (rc < 0)
		goto out;
	printf("%s\n", man.digest);
out:
	hoist_store_unlock(s);
out_free:
	hoist_store_free(s);
	return rc < 0 ? cli_fail(&err) : HOIST_EXIT_OK;
}
