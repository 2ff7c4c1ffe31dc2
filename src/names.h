/* names.h — names behind numbers an event carries (names.c). */
#ifndef CTLUA_NAMES_H
#define CTLUA_NAMES_H
#include <stdint.h>
void names_init(void);                            /* reads connlabel.conf once */
const char *label_name(unsigned bit);             /* from connlabel.conf, or NULL */
int labels_mapped(void);                         /* a connlabel.conf was read */
const char *progname_of(uint32_t portid);         /* the process owning a netlink port, or NULL */
#endif
