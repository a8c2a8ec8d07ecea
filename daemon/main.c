/* main.c — placeholder until the runtime lands. */
int main(void) { return 0; }
