/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Replays a fuzz corpus through a LLVMFuzzerTestOneInput target without
 * libFuzzer, so that `meson test --suite fuzz` runs every seed (and every
 * crash reproducer once fixed) under the normal compiler and sanitizers.
 * Usage: replay DIR|FILE...
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hoist/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path, int *count)
{
	char *data = NULL;
	size_t len = 0;
	struct hoist_error err;

	if (hoist_read_file_at(AT_FDCWD, path, (size_t)16 << 20, &data, &len, &err) < 0) {
		fprintf(stderr, "replay: %s\n", err.msg);
		return -1;
	}
	LLVMFuzzerTestOneInput((const uint8_t *)data, len);
	free(data);
	(*count)++;
	return 0;
}

int main(int argc, char **argv)
{
	int count = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) < 0) {
			perror(argv[i]);
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (run_file(argv[i], &count) < 0)
				return 1;
			continue;
		}
		struct dirent **names;
		int n = scandir(argv[i], &names, NULL, alphasort);
		if (n < 0) {
			perror(argv[i]);
			return 1;
		}
		for (int j = 0; j < n; j++) {
			if (names[j]->d_name[0] != '.') {
				char *p = hoist_xasprintf("%s/%s", argv[i], names[j]->d_name);
				if (run_file(p, &count) < 0)
					return 1;
				free(p);
			}
			free(names[j]);
		}
		free(names);
	}
	printf("1..1\nok 1 - replayed %d inputs\n", count);
	return count > 0 ? 0 : 1;
}
