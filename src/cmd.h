/* cmd.h — the command socket (cmd.c). */
#ifndef CTLUA_CMD_H
#define CTLUA_CMD_H
#include <stddef.h>
#include <stdint.h>
struct nlmsghdr;
#define CMD_MSG_SIZE 16384     /* one request or one reply message, with room to spare */
uint32_t cmd_portid_ns(int ns);
void cmd_select(int ns);
int cmd_current(void);
int cmd_open_ns(int ns);
void cmd_close_ns(int ns);
void cmd_close(void);
struct nlmsghdr *cmd_msg(char *at, uint16_t type, uint8_t family, uint16_t flags);
int cmd_request(struct nlmsghdr *nlh, void *out, size_t cap, size_t *outlen);
int cmd_batch(const char *msgs, size_t len, int count, int *errs);
uint32_t cmd_next_seq(void);
#endif
