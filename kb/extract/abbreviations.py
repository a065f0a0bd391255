"""Small tables the drug dictionary lacks: trial abbreviations of drug names and spelling variants.

Keys are matched case-sensitively as whole tokens (so "LEN" and "Dex" are drugs, "len" is not); values are the
lower-case generic names used in the `regimen` table.
"""

DRUG_ABBREVIATIONS = {
    "LEN": "lenalidomide", "Len": "lenalidomide", "DEX": "dexamethasone", "Dex": "dexamethasone",
    "BOR": "bortezomib", "BTZ": "bortezomib", "CY": "cyclophosphamide", "CTX": "cyclophosphamide",
    "CPA": "cyclophosphamide", "THAL": "thalidomide", "Thal": "thalidomide", "POM": "pomalidomide",
    "MEL": "melphalan", "PTX": "paclitaxel", "DTX": "docetaxel", "DOC": "docetaxel", "CDDP": "cisplatin",
    "CBDCA": "carboplatin", "GEM": "gemcitabine", "5-FU": "fluorouracil", "MTX": "methotrexate",
    "TMZ": "temozolomide", "VCR": "vincristine", "DOX": "doxorubicin", "ADR": "doxorubicin", "CPT-11": "irinotecan",
    "L-OHP": "oxaliplatin", "OXA": "oxaliplatin", "VP-16": "etoposide", "Ara-C": "cytarabine", "ARA-C": "cytarabine",
    "ATRA": "tretinoin", "PRED": "prednisone", "PSL": "prednisolone", "S-1": "s-1",
    "nab-paclitaxel": "nab-paclitaxel", "Nab-paclitaxel": "nab-paclitaxel", "Cisplatinum": "cisplatin",
    "cisplatinum": "cisplatin",
}

# Salt and hydrate words dropped from dictionary names ("Erlotinib Hydrochloride" -> "erlotinib").
SALT_WORDS = {"hydrochloride", "hcl", "maleate", "mesylate", "mesilate", "tosylate", "sulfate", "citrate",
              "phosphate", "acetate", "tartrate", "besylate", "fumarate", "succinate", "malate", "trihydrate",
              "hydrate", "anhydrous", "dihydrate", "monohydrate", "hyclate", "bromide"}

# WHO INN / USAN stems: an unknown word ending in one of these is read as a drug name ("furmonertinib").
INN_STEMS = ("tinib", "rafenib", "ciclib", "parib", "lisib", "zomib", "mab", "cept", "platin", "taxel", "rubicin",
             "trexed", "citabine", "domide", "mustine", "leukin", "grastim", "kinra", "vastatin", "sartan", "pril",
             "olol", "prazole", "gliptin", "flozin", "glutide", "dronate", "oxacin", "cillin", "mycin", "conazole",
             "setron", "lukast", "tecan", "poetin", "relix", "lutamide", "triptan", "barbital", "azepam")
