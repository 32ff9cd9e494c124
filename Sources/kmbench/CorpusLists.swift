/// The fixed word, name and place lists the realistic workload draws from. Plain data:
/// the generator (RealisticWorkload, Vocabulary) decides how often each is used.
enum CorpusLists {
    /// English function words: the most frequent ranks of the vocabulary, as in real text.
    static let functionWords = """
        the of and to in for with on a is are by from as at be this that was were or an it can has have not which
        their these we our who will may should all more how what when within into across about between after before
        during other also new each its been than through over under such most both where there they them but if only
        well used including based per any some one two three first local national further support help
        """.split(whereSeparator: \.isWhitespace).map(String.init)

    /// Words of health care and library and knowledge services.
    static let healthWords = """
        patient patients care clinical health healthcare service services nursing nurse nurses doctor doctors medical
        medicine hospital hospitals trust trusts community primary secondary acute mental wellbeing safety quality
        improvement evidence research review reviews systematic guideline guidelines guidance pathway pathways audit
        audits outcome outcomes practice practices staff workforce training education learning library libraries
        knowledge information resource resources search literature database databases journal journals article articles
        summary summaries bulletin current awareness toolkit toolkits policy policies procedure procedures protocol
        protocols assessment risk risks management manager managers leadership governance board commissioning integrated
        system systems network networks partnership partnerships team teams multidisciplinary specialist specialists
        consultant consultants practitioner practitioners therapist therapy therapies physiotherapy occupational pharmacy
        pharmacist medicines prescribing antibiotic antimicrobial infection prevention control sepsis stroke cancer
        diabetes dementia frailty falls fracture heart cardiac cardiology respiratory asthma pneumonia covid vaccination
        immunisation screening maternity midwifery neonatal paediatric children child young people adult adults older
        palliative end life hospice surgery surgical theatre anaesthesia emergency department urgent ambulance discharge
        admission admissions readmission bed beds ward wards outpatient inpatient clinic clinics appointment appointments
        waiting list lists referral referrals diagnosis diagnostic imaging radiology pathology laboratory blood test tests
        treatment treatments intervention interventions trial trials randomised controlled cohort study studies
        qualitative quantitative analysis data digital record records electronic technology telehealth virtual remote
        monitoring nutrition obesity smoking cessation alcohol substance misuse homelessness deprivation inequalities
        inequality population public resilience stress burnout retention recruitment apprenticeship competence competency
        framework frameworks standard standards regulation inspection compliance incident incidents harm harms error errors
        lessons feedback complaint complaints experience engagement involvement carer carers family families consent
        capacity safeguarding vulnerable disability disabilities autism rehabilitation recovery pain chronic long term
        condition conditions multimorbidity polypharmacy deprescribing medication adherence self literacy communication
        handover documentation escalation deterioration early warning score observation observations pressure ulcer
        ulcers wound wounds tissue viability continence catheter hydration mobility exercise physical activity sleep
        delirium depression anxiety psychosis suicide crisis liaison perinatal eating disorder disorders addiction kidney
        renal liver hepatitis sexual reproductive contraception breastfeeding birth labour caesarean pregnancy antenatal
        postnatal newborn premature sickle cell thalassaemia haematology oncology chemotherapy radiotherapy genomics
        genetic rare disease diseases ophthalmology eye dental oral hearing dermatology skin allergy endocrine thyroid
        gastroenterology bowel colorectal urology prostate orthopaedic hip knee spine neurology epilepsy migraine
        catalogue cataloguing metadata classification repository open access licence licensing copyright subscription
        subscriptions ebook ebooks loan loans interlibrary document documents delivery enquiry enquiries reference
        librarian librarians outreach induction session sessions workshop workshops webinar webinars recording recordings
        presentation presentations slide slides poster posters conference conferences event events newsletter newsletters
        blog podcast video videos website portal intranet platform app apps software dashboard dashboards report reports
        annual strategy strategic plan plans business case cost costs effectiveness efficiency value productivity budget
        funding investment procurement estates facilities sustainability carbon zero green travel transport evaluation
        implementation adoption spread scale innovation pilot project projects programme programmes national regional
        integrated neighbourhood place partnership collaborative collaboration network shared decision making
        personalised personal plan planning goals equality diversity inclusion culture civility wellbeing appraisal
        supervision reflective simulation preceptorship mentoring coaching revalidation assessment examination curriculum
        placement students student nursing associate advanced clinical physician associate paramedic paramedics
        dietitian dietitians podiatry podiatrist speech language radiographer radiographers sonographer optometry
        audiology orthoptics prosthetics psychology psychologist psychiatry psychiatrist counselling social worker workers
        volunteer volunteers charity charities voluntary sector housing employment benefits loneliness isolation
        prescribing social prescribing link worker health coach care navigator frailty virtual ward hospital home
        discharge flow capacity demand winter pressures elective backlog recovery waiting times diagnostics cancer
        faster standard targets performance metrics indicators benchmarking variation atlas commissioning tariff
        """.split(whereSeparator: \.isWhitespace).map(String.init)

    /// Syllable parts for pronounceable made-up words: the long tail of the vocabulary
    /// (rare terms, drug and place names, jargon), which real text has thousands of.
    static let onsets = ["", "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z",
                         "br", "cl", "cr", "dr", "fl", "gr", "pl", "pr", "sc", "sh", "sl", "sp", "st", "th", "tr", "ch"]
    static let vowels = ["a", "e", "i", "o", "u", "ai", "ea", "io", "ou", "ee", "y"]
    static let codas = ["", "", "", "n", "r", "s", "l", "t", "m", "nd", "st", "x", "ck", "ph", "rm"]

    static let givenNames = """
        Olivia Amelia Isla Ava Mia Ivy Lily Isabella Rosie Sophia Grace Freya Willow Florence Emily Ella Poppy Evie
        Elsie Charlotte Evelyn Sienna Sofia Daisy Phoebe Sophie Alice Harper Matilda Ruby Emilia Maya Millie Isabelle
        Hannah Aria Jessica Lucy Mila Eliza Layla Chloe Ellie Esme Imogen Jasmine Zara Maryam Aisha Fatima Amira Nadia
        Priya Anjali Deepa Sunita Meera Kavita Nisha Ayesha Zainab Khadija Ngozi Chiamaka Adaeze Funmilayo Abena Ama
        Siobhan Aoife Niamh Ciara Roisin Mairead Bronwen Cerys Eleri Ffion Seren Catrin Morag Kirsty Fiona Eilidh
        Margaret Susan Patricia Linda Barbara Elizabeth Jennifer Helen Sarah Rachel Rebecca Claire Joanne Nicola
        Oliver George Noah Arthur Harry Leo Muhammad Jack Charlie Oscar Jacob Henry Thomas Freddie Alfie Theo William
        Theodore Archie Joshua Alexander James Isaac Edward Lucas Tommy Finley Max Logan Ethan Mohammed Teddy Benjamin
        Arlo Joseph Sebastian Harrison Elijah Adam Daniel Samuel Louie Mason Reuben Albie Rory Jaxon Hugo Luca Zachary
        Reggie Hunter Louis Dylan Albert David Jude Frankie Roman Ezra Toby Riley Carter Ronnie Frederick Gabriel
        Stanley Bobby Jesse Michael Elliot Grayson Mohammad Liam Jenson Ellis Harvey Kai Ahmed Omar Hamza Bilal Imran
        Rajesh Sanjay Anil Vikram Arjun Rohan Kwame Kofi Chinedu Emeka Oluwaseun Tunde Declan Ciaran Padraig Eoin
        Cormac Rhys Dafydd Gareth Owain Iwan Angus Callum Fraser Hamish Ewan Peter Andrew Richard Stephen Paul Mark
        Christopher Simon Martin Graham Ian Neil Colin Keith Philip Anthony Kevin Gary Robert John Malcolm Nigel
        """.split(whereSeparator: \.isWhitespace).map(String.init)

    static let familyNames = """
        Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts Robinson Thompson Wright Walker
        White Edwards Hughes Green Hall Lewis Harris Clarke Patel Jackson Wood Turner Martin Cooper Hill Ward Morris
        Moore Clark Lee King Baker Harrison Morgan Allen James Scott Phillips Watson Davis Parker Price Bennett Young
        Griffiths Mitchell Kelly Cook Carter Richardson Bailey Collins Bell Shaw Murphy Miller Cox Richards Khan
        Marshall Anderson Simpson Ellis Adams Singh Begum Wilkinson Foster Chapman Powell Webb Rogers Gray Mason Ali
        Hunt Hussain Campbell Matthews Owen Palmer Holmes Mills Barnes Knight Lloyd Butler Russell Barker Fisher
        Stevens Jenkins Murray Dixon Harvey Graham Pearson Ahmed Fletcher Walsh Kaur Gibson Howard Andrews Stewart
        Elliott Reynolds Saunders Payne Fox Ford Pearce Day Brooks West Lawrence Cole Atkinson Bradley Spencer Gill
        Dawson Ball Burton Obrien Watts Rose Booth Perry Ryan Grant Wells Armstrong Francis Rees Hayes Hart Hudson
        Newman Barrett Webster Hunter Gregory Carr Lowe Page Marsh Riley Dunn Woods Parsons Berry Stone Reid Holland
        Hawkins Harding Porter Robertson Newton Oliver Reed Kennedy Williamson Bird Gardner Shah Dean Lane Cooke
        Bates Henderson Parry Burgess Bishop Walton Burns Nicholson Shepherd Ross Cross Long Freeman Warren Nicholls
        Hamilton Byrne Sutton McDonald Yates Hodgson Robson Curtis Hopkins Okafor Adeyemi Mensah Owusu Nwosu Chowdhury
        Rahman Islam Mistry Sharma Gupta Joshi Mehta Nair Iyer Fernandes Silva Nowak Kowalski Novak Rossi Kaminski
        """.split(whereSeparator: \.isWhitespace).map(String.init)

    /// Places for NHS-like trust and library names (three kinds of organisation each).
    static let places = """
        Northbridge|Eastfield|Westmoor|Southvale|Kingsford|Queensbury|Ashworth|Beckington|Caldermere|Dunholme|Elmstead|
        Fairhaven|Greywell|Hartlepool Bay|Ivybridge Vale|Jarrowfield|Kettleby|Lindisford|Marlowe|Netherton|Oakhampton|
        Pendleford|Quarrington|Redbrook|Stonehaven|Thornbury|Upton Mere|Valewood|Whitcombe|Yarmouth Sands|Ambleside Fell|
        Brackenridge|Coldharbour|Dovercourt|Easterhope|Foxhollow|Glenmarsh|Highcliffe|Ironbridge Gorge|Kirkby Moor|
        Langholm|Millbrook|Norcastle|Oldcastle|Penrith Downs|Ravensworth|Saltmarsh|Tidewater|Wyndham|Yewbarrow
        """.split(separator: "|").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }

    /// Kinds of organisation, with the short label used in their web host names.
    static let organisationKinds: [(name: String, host: String)] = [
        ("NHS Foundation Trust", "nft"), ("Teaching Hospitals NHS Trust", "th"), ("Community Health NHS Trust", "chs"),
        ("Healthcare Library", "library"), ("Library and Knowledge Service", "lks"), ("Integrated Care Board", "icb"),
    ]

    /// Topics and qualifiers of tag phrases: every topic alone and with every qualifier.
    static let tagTopics = """
        sepsis|falls|frailty|stroke|dementia|delirium|diabetes|asthma|copd|heart failure|atrial fibrillation|hypertension|
        cancer|breast cancer|lung cancer|bowel cancer|prostate cancer|palliative care|end of life care|pain management|
        mental health|depression|anxiety|psychosis|eating disorders|self harm|suicide prevention|substance misuse|alcohol|
        smoking cessation|obesity|nutrition|hydration|pressure ulcers|wound care|infection control|hand hygiene|
        antimicrobial stewardship|covid-19|influenza|vaccination|screening|maternity|midwifery|neonatal care|
        breastfeeding|perinatal mental health|paediatrics|child safeguarding|adult safeguarding|learning disabilities|
        autism|older people|care homes|community nursing|district nursing|primary care|general practice|
        urgent care|emergency medicine|ambulance services|critical care|surgery|anaesthesia|orthopaedics|
        hip fracture|rehabilitation|physiotherapy|occupational therapy|speech and language therapy|dietetics|
        pharmacy|medicines optimisation|polypharmacy|deprescribing|medication safety|patient safety|
        human factors|incident reporting|duty of candour|quality improvement|clinical audit|clinical governance|
        evidence based practice|health inequalities|population health|public health|health literacy|
        shared decision making|patient experience|carers|staff wellbeing|burnout|workforce planning|recruitment|
        retention|leadership|preceptorship|simulation training|digital health|electronic patient records|
        telehealth|virtual wards|artificial intelligence|data protection|information governance|discharge planning|
        patient flow|waiting lists|elective recovery|health economics|sustainability|net zero|library services|
        literature searching|current awareness|knowledge mobilisation|open access|copyright|sickle cell disease
        """.split(separator: "|").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }

    static let tagQualifiers = [
        "audit", "guidance", "training", "pathway", "policy", "research", "evidence review", "toolkit",
        "patient information", "case study", "lessons learned", "quality improvement", "nursing", "children",
        "older adults", "community", "primary care", "digital", "workforce", "outcomes", "risk assessment",
        "standards", "e-learning", "webinar",
    ]

    /// How often each of the schema's kinds is used (a kind missing here counts 1).
    static let resourceKindWeights: [String: Int] = [
        "document": 30, "link": 20, "research-summary": 12, "toolkit": 8, "presentation": 8,
        "case-study": 6, "lesson-learned": 6, "recording": 4, "event": 4, "other": 2,
    ]

    static let licenceWeights: [(licence: String, weight: Int)] = [
        ("OGL-3.0", 40), ("CC-BY-4.0", 25), ("All rights reserved", 20), ("CC-BY-NC-4.0", 10), ("NHS England terms of use", 5),
    ]
}
