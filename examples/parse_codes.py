"""Parse FACS codes and named expressions, and read their intensities on different scales.

Run: python examples/parse_codes.py
"""

from facs_rig import load_vocabulary

vocabulary = load_vocabulary()

for text in ["1+2+5B+26", "AU6C + AU12D", "contempt", "surprise+25", "R12A+L14"]:
    code = vocabulary.parse(text)
    print(f"{text!r:18} -> {code}")
    for term in code:
        unit = vocabulary.action_unit(term.au)
        values = ", ".join(f"{name} {term.value(vocabulary.scale(name)):.2f}"
                           for name in ("facshuman", "hapfacs"))
        print(f"    AU{term.au:<3} {unit.name:24} side {term.side or 'both':4} {values}")

# A tracker's 0-1 value read back as a FACS letter, on the default scale.
for value in (0.02, 0.08, 0.4, 0.7, 0.97):
    print(f"value {value:.2f} -> letter {vocabulary.scale().value_to_letter(value)}")
