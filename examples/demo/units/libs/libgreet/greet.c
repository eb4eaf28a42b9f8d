#include <stdio.h>
#include "greet.h"

int greet(char *buf, unsigned long len, const char *who) {
    return snprintf(buf, len, "hello, %s", who);
}
