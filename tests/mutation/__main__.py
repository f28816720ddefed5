"""``python -m tests.mutation``: how many correct variants and wrong ones each assignment grades."""
from tests.mutation.harness import counts


def main() -> None:
    table = counts()
    print("| assignment | graded names | correct variants (full points) | wrong variants (must lose points) |")
    print("| --- | ---: | ---: | ---: |")
    for assignment, (names, correct, wrong) in table.items():
        print(f"| {assignment} | {names} | {correct} | {wrong} |")
    total = [sum(col) for col in zip(*table.values())]
    print(f"| all | {total[0]} | {total[1]} | {total[2]} |")


if __name__ == "__main__":
    main()
