#ifndef GREET_H
#define GREET_H

/* Writes "hello, <who>" into buf (at most len bytes); returns the length written. */
int greet(char *buf, unsigned long len, const char *who);

#endif
