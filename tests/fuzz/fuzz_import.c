/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for `hoist import`/`load` archives (src/oci/import.c): an OCI
 * layout tar (oci-layout, index.json, blobs) or a docker-archive tar
 * (manifest.json, repositories, config and layer files). The input is the
 * archive; it is written to a temporary directory (on /dev/shm when it
 * exists) and imported into a fresh store there, which is removed after
 * each input. A successful import names at least one image, each tagged in
 * the store. No network: names are only parsed (registries.conf is
 * /dev/null).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hoist/oci.h"
#include "hoist/store.h"
#include "hoist/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir_shm[] = "/dev/shm/hoist-fuzz-import-XXXXXX";
static char dir_tmp[] = "/tmp/hoist-fuzz-import-XXXXXX";
static char *dir, *input, *root;

static void cleanup(void)
{
	hoist_rm_rf_at(AT_FDCWD, dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hoist_store *s = NULL;
	struct hoist_error err = {0};
	char **names = NULL;

	if (!dir) {
		dir = mkdtemp(dir_shm);
		if (!dir)
			dir = mkdtemp(dir_tmp);
		if (!dir)
			abort();
		input = hoist_xasprintf("%s/input.tar", dir);
		root = hoist_xasprintf("%s/store", dir);
		setenv("HOIST_REGISTRIES_CONF", "/dev/null", 1);
		atexit(cleanup);
	}
	int fd = open(input, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || hoist_write_all(fd, data, size) < 0)
		abort();
	close(fd);
	if (hoist_store_open(root, &s, &err) < 0) {
		fprintf(stderr, "fuzz-import: store: %s\n", err.msg);
		abort();
	}
	int r = hoist_oci_import(s, input, &names, &err);
	if (r < 0 && !err.msg[0])
		abort(); /* every refusal says why */
	if (r >= 0) {
		if (!names || !names[0])
			abort(); /* an import names what it imported */
		for (size_t i = 0; names[i]; i++) {
			char d[HOIST_DIGEST_MAX];
			struct hoist_error e2 = {0};
			if (strncmp(names[i], "sha256:", 7) != 0 &&
			    hoist_store_tag_get(s, names[i], d, &e2) < 0)
				abort(); /* a name given back is tagged */
		}
	}
	hoist_strv_free(names);
	hoist_store_free(s);
	if (hoist_rm_rf_at(AT_FDCWD, root) < 0)
		abort();
	return 0;
}
