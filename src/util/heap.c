/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Heap set-up for a short-lived CLI process.
 *
 * A daemon (BuildKit) faults its memory in once and keeps it; every hoist
 * command starts from an empty address space. On the virtual machines hoist
 * is benchmarked on, faulting in one fresh 4 KiB page costs 10-20 us, and a
 * no-op rebuild of a 20,000-file context touched ~3,800 of them: a third of
 * its time. Transparent huge pages fault in 2 MiB at a time, about ten times
 * cheaper per byte there, so the main heap is grown in one large step and
 * that range is marked MADV_HUGEPAGE (THP's default "madvise" mode only gives
 * huge pages to ranges asked for). Untouched address space costs nothing;
 * a touched huge page counts 2 MiB toward RSS, which is why the range is
 * bounded.
 */
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hoist/util.h"

#define HEAP_PAD ((size_t)32 << 20)
#define HUGE_PAGE ((uintptr_t)2 << 20)
/* Allocations up to this size come from the (huge-page) heap, not from a
 * private mmap each, which would fault page by page again. */
#define MMAP_THRESHOLD ((int)4 << 20)

void hoist_heap_tune(void)
{
	if (mallopt(M_TOP_PAD, (int)HEAP_PAD) != 1 ||
	    mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) != 1)
		return;
	/* Make the heap grow now, by HEAP_PAD at once: an allocation larger
	 * than whatever top chunk the loader's early allocations left. */
	void *p = malloc(256 << 10);
	if (!p)
		return;
	uintptr_t lo = ((uintptr_t)p + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
	uintptr_t hi = (uintptr_t)sbrk(0) & ~(HUGE_PAGE - 1);
	/* free() trims the top back to M_TOP_PAD at most, so the range stays. */
	free(p);
	if (hi > lo)
		(void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE); /* EINVAL without THP: fine */
}
