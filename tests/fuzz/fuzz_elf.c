/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the ELF reader (src/minimize/elf.c), which reads image
 * content, i.e. untrusted files. The input is one ELF file. A successful
 * parse must give a consistent result: a known class and byte order, and
 * strings no longer than the limit; any failure must be -ENOEXEC or
 * -EBADMSG with a message. The sanitizers catch every out-of-bounds read.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hoist/minimize.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hoist_elf_info info = {0};
	struct hoist_error err = {0};
	/* A copy of exactly `size` bytes, so that ASan sees any read past it. */
	uint8_t *copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	int r = hoist_minimize_elf_parse(copy, size, "fuzz", &info, &err);
	if (r < 0) {
		if ((r != -ENOEXEC && r != -EBADMSG) || !err.msg[0])
			abort();
	} else {
		if ((info.elf_class != 1 && info.elf_class != 2) ||
		    (info.data != 1 && info.data != 2))
			abort();
		if (info.needed.n > HOIST_ELF_MAX_NEEDED)
			abort();
		for (size_t i = 0; i < info.needed.n; i++)
			if (strlen(info.needed.v[i]) >= HOIST_ELF_MAX_STRING)
				abort();
		if (info.interp && strlen(info.interp) >= HOIST_ELF_MAX_STRING)
			abort();
		(void)hoist_minimize_elf_triplets(&info);
		(void)hoist_minimize_elf_compatible(&info, &info);
		hoist_minimize_elf_release(&info);
	}
	free(copy);
	return 0;
}
