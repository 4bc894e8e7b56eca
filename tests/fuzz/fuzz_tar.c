/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the tar reader: the input is an archive (any compression).
 * Every entry is read to its end; a returned entry must be clean (no
 * leading '/', no '..' component) and hardlink targets likewise.
 */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hoist/layer.h"
#include "hoist/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool clean(const char *p)
{
	if (!p || p[0] == '/' || !p[0])
		return false;
	for (const char *s = p; *s;) {
		size_t n = strcspn(s, "/");
		if ((n == 2 && s[0] == '.' && s[1] == '.') || (n == 1 && s[0] == '.') || n == 0)
			return false;
		s += n;
		if (*s == '/')
			s++;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz-tar", MFD_CLOEXEC);
	struct hoist_tar_reader *r = NULL;
	struct hoist_entry e = {0};
	char buf[4096];

	if (fd < 0)
		return 0;
	if (hoist_write_all(fd, data, size) < 0 || lseek(fd, 0, SEEK_SET) < 0)
		goto out;
	if (hoist_tar_reader_open(fd, "fuzz", &r, NULL) < 0)
		goto out;
	hoist_tar_reader_set_max_entries(r, 10000);
	while (hoist_tar_reader_next(r, &e, NULL) > 0) {
		if (!clean(e.path) || (e.type == HOIST_ENTRY_HARDLINK && !clean(e.linkname)))
			__builtin_trap();
		while (hoist_tar_reader_read(r, buf, sizeof(buf), NULL) > 0)
			;
	}
out:
	hoist_entry_release(&e);
	hoist_tar_reader_free(r);
	close(fd);
	return 0;
}
