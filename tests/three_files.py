"""The input of the interrupted-run and progress tests: three TSV files
with a line without a tab, a bad length ratio and duplicates across files."""
EN = ["the cat sleeps on the warm mat", "a small house stands by the river", "I like green apples a lot",
      "we went home late after the concert", "the train to Berlin was full today"]
DE = ["die Katze schläft auf der warmen Matte", "ein kleines Haus steht am Fluss", "ich mag grüne Äpfel sehr",
      "wir gingen nach dem Konzert spät nach Hause", "der Zug nach Berlin war heute voll"]


def write_three_files(folder):
    folder.mkdir()
    for k in range(3):
        lines = [f"{EN[i % 5]} number {i % 40} .\t{DE[i % 5]} Nummer {i % 40} ." for i in range(k * 20, k * 20 + 30)]
        lines[3] = "a line without a tab"
        lines[7] = f"{EN[0]} .\t{DE[0]} {DE[1]} {DE[2]} ."
        (folder / f"part{k}.tsv").write_text("\n".join(lines) + "\n")
    return folder
