// SPDX-License-Identifier: GPL-2.0
/*
 * libaxvm: parsing helpers shared by the launcher and the selftests.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "libaxvm.h"

/* Power-of-two multiplier of a size suffix; 0 if s is not one. */
static uint64_t size_suffix_multiplier(const char *s)
{
	static const struct {
		char letter;
		unsigned int shift;
	} units[] = { { 'K', 10 }, { 'M', 20 }, { 'G', 30 }, { 'T', 40 } };
	size_t i;

	if (*s == '\0')
		return 1;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (toupper((unsigned char)s[0]) != units[i].letter)
			continue;
		/* "64M", "64MB" and "64MiB" all mean 64 << 20. */
		if (s[1] == '\0' || !strcasecmp(s + 1, "B") ||
		    !strcasecmp(s + 1, "iB"))
			return 1ULL << units[i].shift;
	}
	return 0;
}

/*
 * Accepts a decimal or 0x-hex number with an optional binary suffix:
 * "4096", "0x1000", "64M", "1G", "2MiB". A leading 0 does not mean
 * octal ("010" is ten): sizes typed by people are never octal.
 * -EINVAL for anything else, -ERANGE if it does not fit 64 bits.
 */
int axvm_parse_size(const char *s, uint64_t *out)
{
	unsigned long long value;
	uint64_t multiplier;
	int base = 10;
	char *end;

	if (!s || !isdigit((unsigned char)s[0]))
		return -EINVAL;	/* also refuses "", "-1", " 1", "+1" */
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		base = 16;

	errno = 0;
	value = strtoull(s, &end, base);
	if (errno == ERANGE)
		return -ERANGE;
	if (end == s)
		return -EINVAL;

	multiplier = size_suffix_multiplier(end);
	if (!multiplier)
		return -EINVAL;
	if (value > UINT64_MAX / multiplier)
		return -ERANGE;
	*out = value * multiplier;
	return 0;
}

int axvm_parse_mode(const char *s, enum axvm_cpu_mode *mode)
{
	if (!s)
		return -EINVAL;
	if (!strcmp(s, "real"))
		*mode = AXVM_MODE_REAL;
	else if (!strcmp(s, "protected"))
		*mode = AXVM_MODE_PROTECTED;
	else if (!strcmp(s, "long"))
		*mode = AXVM_MODE_LONG;
	else
		return -EINVAL;
	return 0;
}

const char *axvm_mode_name(enum axvm_cpu_mode mode)
{
	switch (mode) {
	case AXVM_MODE_REAL:		return "real";
	case AXVM_MODE_PROTECTED:	return "protected";
	case AXVM_MODE_LONG:		return "long";
	}
	return "unknown";
}
