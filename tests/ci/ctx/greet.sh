# CMD of the images tests/ci/containers.sh builds: what each step left
cat /app/hello.txt
echo "$GREETING"
for f in /app/built.txt /app/secret.txt /home/app/who.txt; do
	[ -f "$f" ] && cat "$f"
done
exit 0
