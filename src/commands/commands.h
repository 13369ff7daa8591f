/* Subcommands of the gradcore binary. Each parses its own options and returns an exit status;
 * all are collective over MPI_COMM_WORLD. */
#ifndef GC_COMMANDS_H
#define GC_COMMANDS_H

int gc_command_select(int argc, char **argv);
int gc_command_stream(int argc, char **argv);
int gc_command_gen(int argc, char **argv);
int gc_command_info(int argc, char **argv);
int gc_command_eval(int argc, char **argv);

#endif
