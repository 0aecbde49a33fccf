#!/usr/bin/env bash
# Fails when a test class (a source file under src/test/java with a line that starts with @Test or @ParameterizedTest,
# so a javadoc example does not count) has no report after
# `mvn verify`: unit tests (*Test) in target/surefire-reports, integration tests (*IT) in target/failsafe-reports; a
# class the includes missed (named neither way), or one that was skipped silently.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=0
classes=0
for module in protocol cluster-config router service examples/embedded bench; do
  [ -d "$module/src/test/java" ] || continue
  while IFS= read -r file; do
    grep -q 'abstract class' "$file" && continue
    classes=$((classes + 1))
    fqcn=$(echo "${file#"$module"/src/test/java/}" | sed 's/\.java$//; s#/#.#g')
    if [ ! -f "$module/target/surefire-reports/TEST-$fqcn.xml" ] && [ ! -f "$module/target/failsafe-reports/TEST-$fqcn.xml" ]; then
      echo "check-test-reports: $fqcn has tests but did not run (no TEST-$fqcn.xml in $module/target/surefire-reports or failsafe-reports)"
      missing=$((missing + 1))
    fi
  done < <(grep -rlE '^[[:space:]]*@(Test|ParameterizedTest)\b' "$module/src/test/java" --include='*.java' | sort)
done
echo "check-test-reports: $classes test classes, $missing without a report"
[ "$missing" -eq 0 ]
