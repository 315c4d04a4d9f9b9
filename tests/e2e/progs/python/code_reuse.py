"""Code objects made and freed one after another (compile and exec in a loop), so that
each new one may take the address of the last: function f<i> allocates a bytearray of
1000 + i bytes at line i + 2 of generated.py. Figures checked by test_python.py."""
COUNT = 64
held = []
for i in range(COUNT):
    source = f"def f{i}():\n" + "\n" * i + f"    return bytearray({1000 + i})\n"
    space = {}
    exec(compile(source, "generated.py", "exec"), space)
    held.append(space[f"f{i}"]())
    del space, source
print("code reuse done", len(held))
